import type { Knex } from '../../platform/db.js';

export interface AuditRow {
  type: string;
  occurred_at: Date;
  user_id: string | null;
  email_hash: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
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
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
