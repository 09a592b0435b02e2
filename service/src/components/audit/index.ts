/**
 * The audit component's entry point: the only module other components, the composition root and the
 * CLI may import from components/audit (npm run lint enforces it).
 */
import type { SchedulingClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import { type AuditLog, createAuditLog } from './audit-log.js';
import { createAuditRepo } from './audit-repo.js';

export type { AuditEvent, AuditEventType, AuditLog } from './audit-log.js';
export { hashEmail } from './audit-log.js';

export interface AuditComponent {
  /** Writes audit events (write-behind in batches; inside a transaction when given one). */
  readonly log: AuditLog;
  /** Flushes what is pending; call after the HTTP server has drained. */
  close(): Promise<void>;
}

export function createAuditComponent(deps: { db: Database; logger: Logger; clock: SchedulingClock }): AuditComponent {
  const log = createAuditLog({ repo: createAuditRepo(deps.db.knex), logger: deps.logger, clock: deps.clock });
  return { log, close: () => log.close() };
}
