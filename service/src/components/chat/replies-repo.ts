import type { Knex } from '../../platform/db.js';
import type { MessageRow, MessageStatus, UsageRow } from './repo.js';

/** What a finished reply's ledger row holds besides its message and conversation. */
export type ReplyUsage = Omit<UsageRow, 'message_id' | 'conversation_id'>;

/** An assistant message as the resume and sweep paths see it: who is writing it, until when. */
export interface ReplyRow extends MessageRow {
  generating_by: string | null;
  lease_expires_at: Date | null;
}

export interface ReplyEventRow {
  seq: number;
  text: string;
}

const MESSAGE_COLUMNS = ['id', 'conversation_id', 'role', 'content', 'status', 'created_at'] as const;
const cols = (alias: string) => MESSAGE_COLUMNS.map((c) => `${alias}.${c}`).join(', ');

/**
 * Data access for replies being generated: the user message and its reply row created together, the
 * reply's deltas (reply_events), the generating replica's lease, and the sweep of expired leases.
 */
export function createRepliesRepo(knex: Knex) {
  return {
    /**
     * The user's message and the assistant row of its reply, leased to `owner`, in one statement: a
     * replica that dies right after it leaves a leased row the sweeper fails, never a message without
     * a reply. Bumps the conversation's updated_at. undefined when the conversation is gone.
     */
    async beginTurn(
      conversationId: string,
      content: string,
      owner: string,
      leaseUntil: Date,
    ): Promise<{ message: MessageRow; reply: MessageRow } | undefined> {
      const r = await knex.raw(
        `with c as (
           update conversations set updated_at = clock_timestamp() where id = ? returning id
         ), u as (
           insert into messages (conversation_id, role, content, status, created_at)
           select c.id, 'user', ?, 'complete', clock_timestamp() from c
           returning ${MESSAGE_COLUMNS.join(', ')}
         ), a as (
           insert into messages (conversation_id, role, content, status, created_at, generating_by, lease_expires_at)
           select u.conversation_id, 'assistant', '', 'partial', u.created_at + interval '1 microsecond', ?, ? from u
           returning ${MESSAGE_COLUMNS.join(', ')}
         )
         select ${cols('u')}, 0 as ord from u union all select ${cols('a')}, 1 as ord from a order by ord`,
        [conversationId, content, owner, leaseUntil],
      );
      const rows = r.rows as (MessageRow & { ord?: number })[];
      if (rows.length !== 2) return undefined;
      const strip = ({ ord: _ord, ...row }: MessageRow & { ord?: number }) => row as MessageRow;
      return { message: strip(rows[0] as MessageRow), reply: strip(rows[1] as MessageRow) };
    },

    async appendEvents(messageId: string, events: readonly ReplyEventRow[]): Promise<void> {
      if (events.length === 0) return;
      await knex.raw('insert into reply_events (message_id, seq, text) select ?, s, t from unnest(?::int[], ?::text[]) as x(s, t)', [
        messageId,
        events.map((e) => e.seq),
        events.map((e) => e.text),
      ]);
    },

    /** Extends the lease of the replies `owner` still holds (a swept one is no longer its own). */
    async renewLeases(owner: string, ids: readonly string[], until: Date): Promise<void> {
      if (ids.length === 0) return;
      await knex.raw('update messages set lease_expires_at = ? where id = any(?::uuid[]) and generating_by = ?', [until, [...ids], owner]);
    },

    /**
     * Stores the finished reply and drops the lease — only while `owner` still holds it: a reply the
     * sweeper already failed stays failed (then its current row is answered).
     */
    async finishReply(id: string, owner: string, content: string, status: MessageStatus, usage?: ReplyUsage): Promise<MessageRow | undefined> {
      if (usage) {
        // The ledger row goes with the reply (issue 21): the call was made, whatever became of the row.
        return knex.transaction(async (trx) => {
          const reply = await createRepliesRepo(trx).finishReply(id, owner, content, status);
          await trx('model_usage').insert({ ...usage, conversation_id: reply?.conversation_id ?? null, message_id: id });
          return reply;
        });
      }
      const r = await knex.raw(
        `with m as (
           update messages set content = ?, status = ?, generating_by = null, lease_expires_at = null
           where id = ? and generating_by = ?
           returning ${MESSAGE_COLUMNS.join(', ')}
         ), c as (
           update conversations set updated_at = clock_timestamp() where id in (select conversation_id from m)
         )
         select * from m`,
        [content, status, id, owner],
      );
      if (r.rows[0]) return r.rows[0] as MessageRow;
      return knex('messages').select(...MESSAGE_COLUMNS).where({ id }).first() as Promise<MessageRow | undefined>;
    },

    /** An assistant message of this conversation, with its lease. */
    async findReply(conversationId: string, id: string): Promise<ReplyRow | undefined> {
      return knex('messages')
        .select(...MESSAGE_COLUMNS, 'generating_by', 'lease_expires_at')
        .where({ id, conversation_id: conversationId, role: 'assistant' })
        .first() as Promise<ReplyRow | undefined>;
    },

    async eventsAfter(messageId: string, seq: number): Promise<ReplyEventRow[]> {
      return knex('reply_events').select('seq', 'text').where('message_id', messageId).andWhere('seq', '>', seq).orderBy('seq') as Promise<
        ReplyEventRow[]
      >;
    },

    /** The seq of the reply's last stored delta; 0 when it has none. */
    async lastSeq(messageId: string): Promise<number> {
      const row = (await knex('reply_events').max('seq as seq').where('message_id', messageId).first()) as { seq: number | null } | undefined;
      return row?.seq ?? 0;
    },

    /**
     * Deletes up to `batch` deltas stored before `before` of replies no replica is generating any
     * more; answers how many. The caller repeats while a whole batch went (small transactions, no
     * long lock on a busy table).
     */
    async purgeFinishedEvents(before: Date, batch: number): Promise<number> {
      const r = await knex.raw(
        `delete from reply_events where ctid = any(array(
           select e.ctid from reply_events e join messages m on m.id = e.message_id
            where e.created_at < ? and m.generating_by is null
            limit ?))`,
        [before, batch],
      );
      return r.rowCount ?? 0;
    },

    /**
     * Fails every reply whose lease expired before `now`, keeping what its deltas said so far; answers
     * their ids. Concurrent sweeps are safe: the row lock and the re-checked condition let one win.
     */
    async failExpired(now: Date): Promise<string[]> {
      const r = await knex.raw(
        `update messages m
            set status = 'failed',
                content = coalesce((select string_agg(e.text, '' order by e.seq) from reply_events e where e.message_id = m.id), ''),
                generating_by = null,
                lease_expires_at = null
          where m.generating_by is not null and m.lease_expires_at < ?
          returning m.id`,
        [now],
      );
      return (r.rows as { id: string }[]).map((x) => x.id);
    },
  };
}

export type RepliesRepo = ReturnType<typeof createRepliesRepo>;
