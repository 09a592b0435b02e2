import { createHash, createHmac } from 'node:crypto';
import { isDatabaseUnavailable, type Knex } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { AuditRepo, AuditRow } from './audit-repo.js';
import type { SchedulingClock, TimerHandle } from '../../platform/clock.js';

export type AuditEventType =
  | 'signup_succeeded'
  | 'signup_failed'
  | 'login_succeeded'
  | 'login_failed'
  | 'login_locked_out'
  | 'token_refreshed'
  | 'refresh_token_reused'
  | 'logout'
  | 'logout_all'
  | 'session_revoked'
  | 'password_changed'
  | 'password_rehashed'
  | 'reauthenticated'
  | 'reauthentication_failed'
  // Second factors (issue 20).
  | 'mfa_totp_enrolment_started'
  | 'mfa_totp_enabled'
  | 'mfa_totp_disabled'
  | 'mfa_recovery_codes_regenerated'
  | 'mfa_recovery_code_used'
  | 'mfa_challenge_issued'
  | 'mfa_verified'
  | 'mfa_failed'
  | 'mfa_refused_locked'
  | 'email_verification_requested'
  | 'email_verified'
  | 'password_reset_requested'
  | 'password_reset_completed'
  | 'email_change_requested'
  | 'email_changed'
  | 'account_token_refused'
  | 'mail_rate_limited'
  | 'account_exported'
  | 'account_deleted'
  | 'session_evicted'
  | 'login_refused_locked'
  | 'refresh_failed'
  | 'access_token_refused'
  | 'foreign_resource_refused'
  | 'mail_sent'
  | 'mail_dead_lettered'
  // Passkeys (WebAuthn): details.credential_id is the row id (never the authenticator's credential id).
  | 'passkey_added'
  | 'passkey_renamed'
  | 'passkey_removed'
  | 'passkey_login_failed'
  | 'passkey_counter_regression'
  // Operators (`secops users …`, `secops sessions revoke-all`): details.operator, details.reason.
  | 'operator_user_shown'
  | 'operator_user_disabled'
  | 'operator_user_enabled'
  | 'operator_sessions_revoked'
  | 'operator_user_deleted'
  | 'operator_user_exported'
  | 'operator_mfa_reset'
  | 'operator_budget_set'
  | 'operator_all_sessions_revoked'
  | 'operator_verification_token_issued';

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | null;
  /** Normalized email; only its hash is stored. */
  email?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** The service's own request id. */
  requestId?: string | null;
  /** What the client sent as X-Request-Id (validated and bounded by the request context). */
  clientRequestId?: string | null;
  details?: Record<string, unknown>;
}

/**
 * Failures an attacker can trigger at will. Writing a row for each would turn a password-guessing
 * run into a write-amplification attack on the database, so they are aggregated: the first event
 * per (type, email hash, ip, reason) in a one-minute window is written at once; repeats inside the
 * window are only counted, and one summary row (`details.repeats`, `details.window_started_at`)
 * is written when the window closes. At most `maxKeys` windows are tracked; beyond that repeats go
 * to one overflow counter per minute, so memory stays bounded too.
 */
const AGGREGATED: ReadonlySet<AuditEventType> = new Set([
  'login_failed',
  'signup_failed',
  'login_locked_out',
  'login_refused_locked',
  'refresh_failed',
  'access_token_refused',
  'foreign_resource_refused',
  'passkey_login_failed',
]);

export interface AuditLogOptions {
  repo: Pick<AuditRepo, 'insert'>;
  logger: Logger;
  /** Time and the batch, retry and window timers (tests advance a manual clock instead of sleeping). */
  clock: SchedulingClock;
  /** HMAC key of the email hashes (AUDIT_HASH_KEY). */
  emailHashKey?: Uint8Array;
  windowMs?: number;
  maxKeys?: number;
  /** Rows are written behind the request in batches: at most this long after the event… */
  batchDelayMs?: number;
  /** …or as soon as this many are waiting. */
  batchSize?: number;
  /** While the database is unavailable, rows wait and are retried this often… */
  retryDelayMs?: number;
  /** …up to this many; beyond it the oldest are dropped (logged). Their log lines were written already. */
  maxRetainedRows?: number;
}

interface Window {
  startedAt: number;
  repeats: number;
  row: AuditRow;
}

/**
 * The audit trail's pseudonym of an address: HMAC-SHA-256 under AUDIT_HASH_KEY, so a list of addresses
 * cannot be hashed and matched against the trail by anyone without the key. Without a key (tests of the
 * log alone) a plain SHA-256, which is only a pseudonym against a casual reader.
 */
export function hashEmail(email: string, key?: Uint8Array): string {
  return key ? createHmac('sha256', key).update(email, 'utf8').digest('hex') : createHash('sha256').update(email, 'utf8').digest('hex');
}

export function createAuditLog(options: AuditLogOptions) {
  const { repo, logger, clock } = options;
  const windowMs = options.windowMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 10_000;
  const batchDelayMs = options.batchDelayMs ?? 100;
  const batchSize = options.batchSize ?? 200;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const maxRetainedRows = options.maxRetainedRows ?? 10_000;
  let closing = false;
  const windows = new Map<string, Window>();
  let overflow = 0;
  let pending: AuditRow[] = [];
  let batchTimer: TimerHandle | undefined;
  let writing: Promise<void> = Promise.resolve();

  /**
   * Write-behind: the JSON log line goes out at once (it is a record too); the row joins a batch
   * written with one multi-row insert within `batchDelayMs`, so an audit trail costs the request
   * no round trip. Shutdown flushes. A crash can lose at most the last batch's rows, never their
   * log lines. A batch that meets an unavailable database (restarting, its connection killed) is
   * kept and retried, so an outage costs no rows unless it outlasts `maxRetainedRows`; a batch
   * whose commit happened but whose answer was lost is written twice (its rows keep their request
   * id), which an audit trail prefers to a gap. Inside a caller's transaction the row is written at
   * once, with it.
   */
  function writeBatch(): Promise<void> {
    clock.clear(batchTimer);
    batchTimer = undefined;
    const rows = pending;
    pending = [];
    writing = writing.then(async () => {
      try {
        await repo.insert(rows);
      } catch (err) {
        if (closing || !isDatabaseUnavailable(err)) {
          logger.error({ err, rows: rows.length }, 'audit events could not be stored');
          return;
        }
        pending = rows.concat(pending);
        const dropped = pending.length - maxRetainedRows;
        if (dropped > 0) {
          pending.splice(0, dropped);
          logger.error({ rows: dropped }, 'audit events dropped: the database was unavailable for too long');
        }
        logger.warn({ err, rows: rows.length }, 'audit events not stored yet: database unavailable, will retry');
        batchTimer ??= clock.setTimeout(() => void writeBatch(), retryDelayMs).unref(); // close() flushes; no timer of ours holds the process
      }
    });
    return writing;
  }

  async function write(row: AuditRow, trx?: Knex): Promise<void> {
    logger.info({ audit: { ...row, occurred_at: row.occurred_at.toISOString() } }, `audit: ${row.type}`);
    if (trx) return repo.insert([row], trx);
    pending.push(row);
    if (pending.length >= batchSize) void writeBatch();
    else batchTimer ??= clock.setTimeout(() => void writeBatch(), batchDelayMs).unref();
  }

  async function flush(all: boolean): Promise<void> {
    const now = clock.now().getTime();
    const due: Window[] = [];
    for (const [key, w] of windows) {
      if (all || now - w.startedAt >= windowMs) {
        windows.delete(key);
        if (w.repeats > 0) due.push(w);
      }
    }
    for (const w of due) {
      await write({
        ...w.row,
        occurred_at: new Date(now),
        request_id: null,
        client_request_id: null,
        details: { ...w.row.details, repeats: w.repeats, window_started_at: new Date(w.startedAt).toISOString() },
      });
    }
    if (overflow > 0) {
      const repeats = overflow;
      overflow = 0;
      await write({
        type: 'login_failed',
        occurred_at: new Date(now),
        user_id: null,
        email_hash: null,
        ip: null,
        user_agent: null,
        request_id: null,
        client_request_id: null,
        details: { reason: 'aggregated_overflow', repeats },
      });
    }
  }

  const timer = clock.setInterval(() => void flush(false), Math.min(windowMs, 60_000)).unref();

  return {
    /** Records one event: a JSON log line and an `audit_events` row (aggregated for attacker-driven failures). */
    async record(event: AuditEvent, trx?: Knex): Promise<void> {
      const row: AuditRow = {
        type: event.type,
        occurred_at: clock.now(),
        user_id: event.userId ?? null,
        email_hash: event.email ? hashEmail(event.email, options.emailHashKey) : null,
        ip: event.ip ?? null,
        user_agent: event.userAgent ? event.userAgent.slice(0, 512) : null,
        request_id: event.requestId ?? null,
        client_request_id: event.clientRequestId?.slice(0, 128) ?? null,
        details: event.details ?? {},
      };
      if (!AGGREGATED.has(event.type)) return write(row, trx);
      const key = `${row.type}|${row.email_hash}|${row.ip}|${String(row.details.reason ?? '')}|${String(row.details.resource ?? '')}`;
      const now = row.occurred_at.getTime();
      const open = windows.get(key);
      if (open && now - open.startedAt < windowMs) {
        open.repeats += 1;
        return;
      }
      if (open) await flush(false);
      if (windows.size >= maxKeys) {
        overflow += 1;
        return;
      }
      windows.set(key, { startedAt: now, repeats: 0, row });
      return write(row, trx);
    },
    /** Closes every aggregation window and writes everything pending (tests, shutdown). */
    flush: async () => {
      await flush(true);
      await writeBatch();
    },
    close: async () => {
      closing = true;
      clock.clear(timer);
      await flush(true);
      await writeBatch();
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
