import type { Knex } from '../../../../service/src/public/db.js';
import type { ArchivedTable } from './journal.js';
import type { ArchivedRow } from './parts.js';

/**
 * The SQL of retention. Each batch runs in its own short transaction: rows are locked
 * (`FOR UPDATE SKIP LOCKED`, so a busy row is left for the next run instead of blocking), archived,
 * then deleted by exactly the ids archived.
 *
 * This reads and deletes chat and audit tables directly: retention is a storage concern of the
 * whole database, not a chat flow, and the rows are archived as PostgreSQL renders them.
 */
export interface BatchRow extends ArchivedRow {
  /** Value of the table's time column, ISO 8601. */
  time: string;
  /** messages only: the conversation the message belongs to. */
  conversationId?: string;
}

interface AgedTable {
  table: 'messages' | 'audit_events';
  time: 'created_at' | 'occurred_at';
  idType: 'uuid' | 'bigint';
}

export const AGED: Record<'messages' | 'audit_events', AgedTable> = {
  messages: { table: 'messages', time: 'created_at', idType: 'uuid' },
  audit_events: { table: 'audit_events', time: 'occurred_at', idType: 'bigint' },
};

/** The oldest `limit` rows older than `cutoff`, locked for this transaction. */
export async function lockOldestRows(trx: Knex.Transaction, spec: AgedTable, cutoff: string, limit: number): Promise<BatchRow[]> {
  const conversation = spec.table === 'messages' ? 'x.conversation_id::text' : 'null';
  const r = await trx.raw(
    `select x.id::text as id, to_json(x.${spec.time}) #>> '{}' as time, ${conversation} as conversation_id,
            row_to_json(x)::text as doc
       from ${spec.table} x
      where x.${spec.time} < ?
      order by x.${spec.time}, x.id
      limit ?
      for update skip locked`,
    [cutoff, limit],
  );
  return (r.rows as { id: string; time: string; conversation_id: string | null; doc: string }[]).map((row) => ({
    id: row.id,
    time: row.time,
    doc: row.doc,
    ...(row.conversation_id ? { conversationId: row.conversation_id } : {}),
  }));
}

/** Deletes exactly these ids (those still present and still old); idempotent. */
export async function deleteAgedRows(knex: Knex, spec: AgedTable, ids: readonly string[], cutoff: string): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await knex.raw(`delete from ${spec.table} where id = any(?::${spec.idType}[]) and ${spec.time} < ?`, [[...ids], cutoff]);
  return r.rowCount ?? 0;
}

/**
 * Among `candidates`, the conversations now empty whose updated_at is older than `cutoff`, locked.
 * Locking first matters: a message insert takes a key-share lock on its conversation, so once we
 * hold FOR UPDATE no message can arrive, and the emptiness check (a fresh statement, hence a fresh
 * snapshot) sees every message committed before. Deleting then cascades to nothing.
 */
export async function lockEmptyConversations(
  trx: Knex.Transaction,
  candidates: readonly string[],
  cutoff: string,
  options: { skipLocked: boolean },
): Promise<BatchRow[]> {
  if (candidates.length === 0) return [];
  // A new run skips busy conversations; a resume must wait, or a busy one would look ineligible.
  const locked = await trx.raw(
    `select id from conversations where id = any(?::uuid[]) and updated_at < ? order by id for update${options.skipLocked ? ' skip locked' : ''}`,
    [[...candidates], cutoff],
  );
  const ids = (locked.rows as { id: string }[]).map((r) => r.id);
  if (ids.length === 0) return [];
  const r = await trx.raw(
    `select c.id::text as id, to_json(c.updated_at) #>> '{}' as time, row_to_json(c)::text as doc
       from conversations c
      where c.id = any(?::uuid[]) and not exists (select 1 from messages m where m.conversation_id = c.id)
      order by c.id`,
    [[...ids]],
  );
  return r.rows as BatchRow[];
}

export async function deleteConversations(trx: Knex.Transaction, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await trx.raw('delete from conversations where id = any(?::uuid[])', [[...ids]]);
  return r.rowCount ?? 0;
}

/** Which of `ids` still exist. */
export async function existingIds(knex: Knex, table: ArchivedTable, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const idType = table === 'audit_events' ? 'bigint' : 'uuid';
  const r = await knex.raw(`select id::text as id from ${table} where id = any(?::${idType}[])`, [[...ids]]);
  return (r.rows as { id: string }[]).map((row) => row.id);
}

export interface RetentionCounts {
  messages: number;
  conversations: number;
  audit_events: number;
}

/** What a run with these cutoffs would archive now (dry run: reads only). */
export async function countArchivable(knex: Knex, messagesCutoff: string, auditCutoff: string | null): Promise<RetentionCounts> {
  const count = async (sql: string, bindings: string[]) => Number(((await knex.raw(sql, bindings)).rows[0] as { n: string }).n);
  return {
    messages: await count('select count(*) as n from messages where created_at < ?', [messagesCutoff]),
    conversations: await count(
      `select count(*) as n from conversations c
        where c.updated_at < ?
          and exists (select 1 from messages m where m.conversation_id = c.id and m.created_at < ?)
          and not exists (select 1 from messages m where m.conversation_id = c.id and m.created_at >= ?)`,
      [messagesCutoff, messagesCutoff, messagesCutoff],
    ),
    audit_events: auditCutoff ? await count('select count(*) as n from audit_events where occurred_at < ?', [auditCutoff]) : 0,
  };
}
