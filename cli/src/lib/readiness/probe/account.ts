import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  deleteAccount,
  findAccount,
  issueVerificationToken,
  type OperatorAccount,
  type OperatorAudit,
} from '../../../../../service/src/public/auth.js';
import type { Database } from '../../../../../service/src/public/db.js';

/**
 * The probe's throwaway account, in the database: its identity (a generated address at the operator's
 * domain and random passwords, never printed), the operator actions the probe takes on it (a
 * verification token, the deletion — the service's own functions, the ones `secops users` calls), and
 * the rows it may leave behind.
 */

/** The operator name of the probe's audit rows. */
export const PROBE_OPERATOR = 'secops readiness --probe-account';
export const PROBE_REASON = 'readiness probe account (throwaway)';
export const DEFAULT_PROBE_DOMAIN = 'example.invalid';

export interface ProbeIdentity {
  /** What the probe signs up with: the address with upper-case letters (the service must store it lower-cased). */
  signupEmail: string;
  /** The canonical address. */
  email: string;
  /** ≥ 12 characters, random: a password any policy accepts. */
  password: string;
  /** 11 random characters: refused by the documented PASSWORD_MIN_LENGTH (12) and by nothing else. */
  shortPassword: string;
  /** A different random password (the lockout's wrong guesses). */
  wrongPassword: string;
  /** The X-Request-Id prefix of the run's requests (`readiness-probe-<hex>`): finds its audit rows that name no user. */
  requestIdPrefix: string;
}

const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
function randomText(length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export function newProbeIdentity(domain: string): ProbeIdentity {
  const id = randomBytes(6).toString('hex');
  const email = `readiness-probe+${id}@${domain.toLowerCase()}`;
  return {
    signupEmail: `Readiness-Probe+${id}@${domain.toUpperCase()}`,
    email,
    password: `${randomText(16)}-${randomText(8)}`,
    shortPassword: randomText(11),
    wrongPassword: `${randomText(16)}-${randomText(8)}`,
    requestIdPrefix: `readiness-probe-${id}`,
  };
}

/** The probe's audit identity for the operator actions. */
export function probeAudit(emailHashKey: Uint8Array | undefined): OperatorAudit {
  return { operator: PROBE_OPERATOR, reason: PROBE_REASON, ...(emailHashKey ? { emailHashKey } : {}) };
}

/**
 * The account of `email`, waiting up to `timeoutMs` for it: with EMAIL_VERIFICATION=required the
 * service creates it after its 202 answer. Polls the database (the service's timing, not ours).
 */
export async function awaitAccount(
  db: Database,
  email: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<OperatorAccount | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const account = await findAccount(db.knex, email);
    if (account || Date.now() >= deadline) return account;
    await delay(50, undefined, { signal });
  }
}

/** A verification token for the probe's own unverified account (audited with the probe's operator name). */
export function verificationToken(db: Database, userId: string, audit: OperatorAudit): Promise<string | undefined> {
  return issueVerificationToken(db.knex, userId, 600, new Date(), audit);
}

/** Tables holding a user's rows besides the audit trail, with the SQL that counts them. */
const LEFTOVER_QUERIES: readonly (readonly [string, string])[] = [
  ['users', 'select count(*)::int as n from users where id = ?'],
  ['sessions', 'select count(*)::int as n from sessions where user_id = ?'],
  ['refresh_tokens', 'select count(*)::int as n from refresh_tokens where session_id = any(?::uuid[])'],
  ['device_tokens', 'select count(*)::int as n from device_tokens where user_id = ?'],
  ['account_tokens', 'select count(*)::int as n from account_tokens where user_id = ?'],
  ['conversations', 'select count(*)::int as n from conversations where user_id = ?'],
  ['messages', 'select count(*)::int as n from messages where conversation_id = any(?::uuid[])'],
  ['mfa_totp', 'select count(*)::int as n from mfa_totp where user_id = ?'],
  ['mfa_recovery_codes', 'select count(*)::int as n from mfa_recovery_codes where user_id = ?'],
  ['webauthn_credentials', 'select count(*)::int as n from webauthn_credentials where user_id = ?'],
];

/** The ids that outlive their user row only if a cascade is missing (their rows are keyed by them). */
export interface OwnedIds {
  sessions: string[];
  conversations: string[];
}

export async function ownedIds(db: Database, userId: string): Promise<OwnedIds> {
  const sessions = (await db.knex('sessions').select('id').where({ user_id: userId })) as { id: string }[];
  const conversations = (await db.knex('conversations').select('id').where({ user_id: userId })) as { id: string }[];
  return { sessions: sessions.map((s) => s.id), conversations: conversations.map((c) => c.id) };
}

/** Rows left for the user, table by table (only tables with rows). */
export async function leftovers(db: Database, userId: string, owned: OwnedIds): Promise<Record<string, number>> {
  const left: Record<string, number> = {};
  for (const [table, sql] of LEFTOVER_QUERIES) {
    const binding = table === 'refresh_tokens' ? owned.sessions : table === 'messages' ? owned.conversations : userId;
    const r = await db.knex.raw(sql, [binding]);
    const n = Number((r.rows[0] as { n: number }).n);
    if (n > 0) left[table] = n;
  }
  return left;
}

export const LEFTOVER_TABLES = LEFTOVER_QUERIES.map(([t]) => t);

/** Deletes the account through the service's own deletion (the one `secops users delete` runs); false when it was gone. */
export async function deleteProbeAccount(db: Database, userId: string, audit: OperatorAudit): Promise<boolean> {
  return (await deleteAccount(db.knex, userId, new Date(), audit)) !== undefined;
}

/** The audit rows of the user, by type. */
export async function auditCounts(db: Database, userId: string): Promise<Record<string, number>> {
  const rows = (await db.knex('audit_events').select('type').count('* as n').where({ user_id: userId }).groupBy('type')) as {
    type: string;
    n: string | number;
  }[];
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

/** The run's refused signups (no user to key them by: found by the run's X-Request-Id prefix), by reason. */
export async function signupFailures(db: Database, requestIdPrefix: string): Promise<Record<string, number>> {
  const r = await db.knex.raw(
    `select details->>'reason' as reason, count(*)::int as n from audit_events
      where type = 'signup_failed' and client_request_id like ? group by 1`,
    [`${requestIdPrefix}-%`],
  );
  return Object.fromEntries(
    (r.rows as { reason: string; n: number }[]).map((row) => [`signup_failed ${row.reason}`, Number(row.n)]),
  );
}

/** The deletion's audit row: who deleted the account, and why. */
export async function deletionRow(db: Database, userId: string): Promise<{ operator?: unknown; reason?: unknown } | undefined> {
  const row = (await db
    .knex('audit_events')
    .select('details')
    .where({ user_id: userId, type: 'operator_user_deleted' })
    .first()) as { details: unknown } | undefined;
  if (!row) return undefined;
  const details =
    typeof row.details === 'string'
      ? (JSON.parse(row.details) as Record<string, unknown>)
      : (row.details as Record<string, unknown>);
  return details;
}
