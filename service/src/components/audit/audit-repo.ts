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
    async insert(row: AuditRow, trx: Knex = knex): Promise<void> {
      await trx('audit_events').insert({ ...row, details: JSON.stringify(row.details) });
    },
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
