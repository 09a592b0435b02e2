/**
 * The audit component's entry point: the only module other components, the composition root and the
 * CLI may import from components/audit (npm run lint enforces it).
 */
import type { SchedulingClock } from '../../platform/clock.js';
import type { Database, Knex } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import { type AuditLog, createAuditLog } from './audit-log.js';
import { createAuditRepo } from './audit-repo.js';

export type { AuditEvent, AuditEventType, AuditLog } from './audit-log.js';
export { hashEmail } from './audit-log.js';

export interface AuditComponent {
  /** Writes audit events (write-behind in batches; inside a transaction when given one). */
  readonly log: AuditLog;
  /** A user's events, oldest first (the account export); pending write-behind rows are flushed first. */
  eventsOf(userId: string): AsyncGenerator<AuditExportRow>;
  /** Flushes what is pending; call after the HTTP server has drained. */
  close(): Promise<void>;
}

export interface AuditExportRow {
  id: string;
  type: string;
  occurred_at: Date;
  email_hash: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

/** A user's audit events, oldest first, a page at a time (the account export; no write-behind involved). */
export function auditEventsOf(knex: Knex, userId: string): AsyncGenerator<AuditExportRow> {
  return createAuditRepo(knex).eventsOf(userId) as AsyncGenerator<AuditExportRow>;
}

export function createAuditComponent(deps: { db: Database; logger: Logger; clock: SchedulingClock; emailHashKey?: Uint8Array }): AuditComponent {
  const repo = createAuditRepo(deps.db.knex);
  const log = createAuditLog({ repo, logger: deps.logger, clock: deps.clock, emailHashKey: deps.emailHashKey });
  return {
    log,
    async *eventsOf(userId) {
      await log.flush();
      yield* repo.eventsOf(userId);
    },
    close: () => log.close(),
  };
}
