import type { Knex } from '../../platform/db.js';

export interface AuditRow {
  type: string;
  occurred_at: Date;
  user_id: string | null;
  email_hash: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  /** The client's X-Request-Id, if it sent a valid one (≤ 128 characters); request_id is ours. */
  client_request_id: string | null;
  details: Record<string, unknown>;
}

/** Append-only: the only write is an insert (the runtime DB role has no UPDATE/DELETE here). */
export function createAuditRepo(knex: Knex) {
  return {
    /** One multi-row insert: one round trip whatever the batch size. */
    async insert(rows: AuditRow[], trx: Knex = knex): Promise<void> {
      if (rows.length === 0) return;
      await trx('audit_events').insert(rows.map((row) => ({ ...row, details: JSON.stringify(row.details) })));
    },
    /** A user's events, oldest first, a page at a time (the account export). */
    async *eventsOf(userId: string, pageSize = 500): AsyncGenerator<AuditRow & { id: string }> {
      let after = '0';
      for (;;) {
        const page = (await knex('audit_events')
          .select('id', 'type', 'occurred_at', 'user_id', 'email_hash', 'ip', 'user_agent', 'request_id', 'details')
          .where({ user_id: userId })
          .andWhere('id', '>', after)
          .orderBy('id')
          .limit(pageSize)) as (AuditRow & { id: string })[];
        yield* page;
        if (page.length < pageSize) return;
        after = String((page[page.length - 1] as { id: string }).id);
      }
    },
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
