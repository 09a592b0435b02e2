import type { Knex } from '../../platform/db.js';
import { type AuditEventType, auditEventsOf, hashEmail } from '../audit/index.js';
import { exportConversations } from '../chat/public.js';
import type { MailEnqueuer } from '../mail/public.js';
import type { AccountProfile } from './account-lifecycle-flows.js';
import { createAccountTokensRepo } from './account-tokens.js';
import { exportDocument } from './export-document.js';
import { normalizeEmail } from './email.js';
import { mfaChangedMail } from './mail-templates.js';

/**
 * What an operator does to accounts (`secops users …`, `secops sessions revoke-all`): plain functions over
 * a knex, no Koa, each one transaction, its audit row written in the same transaction. The running
 * replicas see a revocation within the session guard's bound (1 s: it re-reads `sessions.revoked_at`),
 * and refuse a disabled account's login (403 `account_disabled`) and refresh.
 */

/** Who acts, and how the audit row names the account. */
export interface OperatorAudit {
  /** The operator's name (`--operator`, else the OS user). */
  operator: string;
  /** The operator's `--reason` (required for the destructive actions). */
  reason?: string;
  /** AUDIT_HASH_KEY: the service's key, so the rows match the service's own; undefined → email_hash is null. */
  emailHashKey?: Uint8Array;
}

/** The audit events of operator actions (their names start with `operator_`; declared in audit-log.ts). */
export type OperatorEventType = Extract<AuditEventType, `operator_${string}`>;

export interface OperatorAccount {
  id: string;
  email: string;
  created_at: string;
  email_verified_at: string | null;
  disabled_at: string | null;
  disabled_reason: string | null;
  active_sessions: number;
  last_login_at: string | null;
}

export class OperatorActionError extends Error {
  readonly code: 'invalid_email' | 'unknown_account';
  constructor(code: OperatorActionError['code'], message: string) {
    super(message);
    this.name = 'OperatorActionError';
    this.code = code;
  }
}

const iso = (d: Date | string | null | undefined) => (d === null || d === undefined ? null : new Date(d).toISOString());

/** The address as the service stores it; an address that cannot be one is an OperatorActionError. */
export function canonicalEmail(raw: string): string {
  const r = normalizeEmail(raw);
  if (!r.ok) throw new OperatorActionError('invalid_email', r.reason);
  return r.email;
}

/** Writes one operator audit row (append-only: an insert) with the transaction given. */
export async function recordOperatorEvent(
  trx: Knex,
  type: OperatorEventType,
  account: { id: string | null; email: string | null },
  audit: OperatorAudit,
  details: Record<string, unknown> = {},
  now: Date = new Date(),
): Promise<void> {
  await trx('audit_events').insert({
    type,
    occurred_at: now,
    user_id: account.id,
    email_hash: account.email && audit.emailHashKey ? hashEmail(account.email, audit.emailHashKey) : null,
    ip: null,
    user_agent: null,
    request_id: null,
    details: JSON.stringify({ operator: audit.operator, ...(audit.reason === undefined ? {} : { reason: audit.reason }), ...details }),
  });
}

async function accountRow(trx: Knex, where: { id: string } | { email: string }, now: Date): Promise<OperatorAccount | undefined> {
  const r = await trx.raw(
    `select u.id, u.email, u.created_at, u.email_verified_at, u.disabled_at, u.disabled_reason,
            (select count(*)::int from sessions s where s.user_id = u.id and s.revoked_at is null and s.expires_at > ?) as active_sessions,
            (select max(s.created_at) from sessions s where s.user_id = u.id) as last_login_at
       from users u where ${'id' in where ? 'u.id = ?' : 'u.email = ?'}`,
    [now, 'id' in where ? where.id : where.email],
  );
  const row = r.rows[0] as
    | {
        id: string;
        email: string;
        created_at: Date;
        email_verified_at: Date | null;
        disabled_at: Date | null;
        disabled_reason: string | null;
        active_sessions: number;
        last_login_at: Date | null;
      }
    | undefined;
  if (!row) return undefined;
  return {
    id: row.id,
    email: row.email,
    created_at: iso(row.created_at) as string,
    email_verified_at: iso(row.email_verified_at),
    disabled_at: iso(row.disabled_at),
    disabled_reason: row.disabled_reason,
    active_sessions: Number(row.active_sessions),
    last_login_at: iso(row.last_login_at),
  };
}

/** The account of an address (normalized the service's way); undefined when there is none. */
export async function findAccount(knex: Knex, email: string, now: Date = new Date()): Promise<OperatorAccount | undefined> {
  return accountRow(knex, { email: canonicalEmail(email) }, now);
}

/**
 * Revokes the sessions matched by `sessionFilter` (SQL over `s`) and deletes their unrotated refresh
 * tokens. Tokens first, then sessions: the order a refresh takes its locks, so the two cannot deadlock.
 * A refresh that committed a successor meanwhile is refused anyway (its session is revoked).
 */
async function revokeWhere(trx: Knex, sessionFilter: string, bindings: string[], reason: string, now: Date): Promise<{ sessions: number; refreshTokens: number }> {
  const deleted = await trx.raw(
    `delete from refresh_tokens rt using sessions s
      where rt.session_id = s.id and rt.rotated_at is null and s.revoked_at is null and ${sessionFilter}`,
    bindings,
  );
  const revoked = await trx.raw(`update sessions s set revoked_at = ?, revoked_reason = ? where s.revoked_at is null and ${sessionFilter}`, [
    now,
    reason,
    ...bindings,
  ]);
  return { sessions: revoked.rowCount ?? 0, refreshTokens: deleted.rowCount ?? 0 };
}

export interface DisableResult {
  account: OperatorAccount;
  /** False when the account was disabled already (its reason is kept; sessions are revoked anyway). */
  changed: boolean;
  sessions_revoked: number;
  account_tokens_invalidated: number;
}

/**
 * Disables the account: disabled_at/disabled_reason set, every active session revoked (reason
 * `disabled`) with its refresh tokens, every live one-time token (verification, reset, email change)
 * invalidated. Undefined when the user does not exist.
 */
export async function disableAccount(knex: Knex, userId: string, reason: string, now: Date = new Date(), audit?: OperatorAudit): Promise<DisableResult | undefined> {
  return knex.transaction(async (trx) => {
    const locked = await trx('users').select('id', 'email', 'disabled_at').where({ id: userId }).forUpdate().first();
    if (!locked) return undefined;
    const changed = locked.disabled_at === null;
    if (changed) await trx('users').where({ id: userId }).update({ disabled_at: now, disabled_reason: reason, updated_at: now });
    const revoked = await revokeWhere(trx, 's.user_id = ?', [userId], 'disabled', now);
    const invalidated = await trx('account_tokens').where({ user_id: userId }).whereNull('consumed_at').whereNull('invalidated_at').update({ invalidated_at: now });
    if (audit)
      await recordOperatorEvent(trx, 'operator_user_disabled', locked, { ...audit, reason }, { sessions_revoked: revoked.sessions, already_disabled: !changed }, now);
    const account = (await accountRow(trx, { id: userId }, now)) as OperatorAccount;
    return { account, changed, sessions_revoked: revoked.sessions, account_tokens_invalidated: invalidated };
  });
}

/** Lets a disabled account sign in again (its old sessions stay revoked). Undefined when the user does not exist. */
export async function enableAccount(knex: Knex, userId: string, now: Date = new Date(), audit?: OperatorAudit): Promise<{ account: OperatorAccount; changed: boolean } | undefined> {
  return knex.transaction(async (trx) => {
    const locked = await trx('users').select('id', 'email', 'disabled_at', 'disabled_reason').where({ id: userId }).forUpdate().first();
    if (!locked) return undefined;
    const changed = locked.disabled_at !== null;
    if (changed) await trx('users').where({ id: userId }).update({ disabled_at: null, disabled_reason: null, updated_at: now });
    if (audit)
      await recordOperatorEvent(trx, 'operator_user_enabled', locked, audit, { was_disabled: changed, previous_reason: locked.disabled_reason }, now);
    const account = (await accountRow(trx, { id: userId }, now)) as OperatorAccount;
    return { account, changed };
  });
}

/** Revokes every active session of one user (and deletes their unrotated refresh tokens). */
export async function revokeSessions(knex: Knex, userId: string, reason: string, now: Date = new Date(), audit?: OperatorAudit): Promise<{ sessions_revoked: number; refresh_tokens_deleted: number } | undefined> {
  return knex.transaction(async (trx) => {
    const user = await trx('users').select('id', 'email').where({ id: userId }).first();
    if (!user) return undefined;
    const revoked = await revokeWhere(trx, 's.user_id = ?', [userId], 'operator', now);
    if (audit) await recordOperatorEvent(trx, 'operator_sessions_revoked', user, { ...audit, reason }, { sessions_revoked: revoked.sessions }, now);
    return { sessions_revoked: revoked.sessions, refresh_tokens_deleted: revoked.refreshTokens };
  });
}

/** The second factors of an account: TOTP (pending until its first code confirms it), unused recovery codes, passkeys. */
export interface MfaSummary {
  totp: 'on' | 'pending' | 'off';
  recovery_codes_left: number;
  passkeys: number;
}

export async function mfaSummary(knex: Knex, userId: string): Promise<MfaSummary> {
  const r = await knex.raw(
    `select (select case when confirmed_at is null then 'pending' else 'on' end from mfa_totp where user_id = ?) as totp,
            (select count(*)::int from mfa_recovery_codes where user_id = ? and used_at is null) as recovery_codes_left,
            (select count(*)::int from webauthn_credentials where user_id = ?) as passkeys`,
    [userId, userId, userId],
  );
  const row = r.rows[0] as { totp: 'on' | 'pending' | null; recovery_codes_left: number; passkeys: number };
  return { totp: row.totp ?? 'off', recovery_codes_left: Number(row.recovery_codes_left), passkeys: Number(row.passkeys) };
}

/** What an MFA reset removed: the TOTP as it was, and the rows of recovery codes (used or not) and passkeys. */
export interface MfaRemoved {
  totp: 'on' | 'pending' | 'off';
  recovery_codes: number;
  passkeys: number;
}

export interface MfaResetResult {
  removed: MfaRemoved;
  sessions_revoked: number;
  refresh_tokens_deleted: number;
}

/** Where the reset's notice goes: the mail outbox (written in the reset's transaction) and APP_URL for its link. */
export interface MfaResetNotice {
  outbox: MailEnqueuer;
  appUrl: string;
}

/** The notice names the kinds removed, not counts (a used recovery code is removed too, and counted in the audit). */
function removedText(removed: MfaRemoved): string {
  const kinds = [
    ...(removed.totp === 'off' ? [] : ['authenticator app']),
    ...(removed.recovery_codes > 0 ? ['recovery codes'] : []),
    ...(removed.passkeys > 0 ? ['passkeys'] : []),
  ];
  return kinds.length === 0 ? 'none were set up' : `removed: ${kinds.join(', ')}`;
}

/**
 * Resets the account's second factors for an owner who lost them (support verified who they are): the
 * TOTP, every recovery code and every passkey are deleted, every session is revoked with its refresh
 * tokens (whoever held a session keeps nothing the factors protected; every replica refuses its access
 * tokens within the guard's bound), the notice mail is written to the outbox, and the audit row
 * `operator_mfa_reset` records the counts — all in one transaction. Undefined when the user does not exist.
 */
export async function resetMfa(knex: Knex, userId: string, reason: string, notice: MfaResetNotice, now: Date = new Date(), audit?: OperatorAudit): Promise<MfaResetResult | undefined> {
  return knex.transaction(async (trx) => {
    const user = await trx('users').select('id', 'email').where({ id: userId }).forUpdate().first();
    if (!user) return undefined;
    const totp = (await trx('mfa_totp').where({ user_id: userId }).delete().returning('confirmed_at')) as { confirmed_at: Date | null }[];
    const codes = await trx('mfa_recovery_codes').where({ user_id: userId }).delete();
    const passkeys = await trx('webauthn_credentials').where({ user_id: userId }).delete();
    const removed: MfaRemoved = { totp: totp[0] ? (totp[0].confirmed_at ? 'on' : 'pending') : 'off', recovery_codes: codes, passkeys };
    const revoked = await revokeWhere(trx, 's.user_id = ?', [userId], 'mfa_reset', now);
    const what = `your second factors were reset by support (${removedText(removed)}) and every session was signed out; sign in with your password and set up a second factor again`;
    await notice.outbox.enqueue(trx, mfaChangedMail(user.email, notice.appUrl, what), { userId });
    if (audit) await recordOperatorEvent(trx, 'operator_mfa_reset', user, { ...audit, reason }, { removed, sessions_revoked: revoked.sessions }, now);
    return { removed, sessions_revoked: revoked.sessions, refresh_tokens_deleted: revoked.refreshTokens };
  });
}

/**
 * Revokes every active session of every user and deletes their unrotated refresh tokens (after a
 * breach). Access tokens already issued stay verifiable until they expire unless the signing keys are
 * rotated and the old ones removed; the session guard refuses them within its bound on every replica.
 */
export async function revokeAllSessions(knex: Knex, reason: string, now: Date = new Date(), audit?: OperatorAudit): Promise<{ sessions_revoked: number; refresh_tokens_deleted: number; users: number }> {
  return knex.transaction(async (trx) => {
    const users = await trx.raw('select count(distinct user_id)::int as n from sessions where revoked_at is null');
    const revoked = await revokeWhere(trx, 'true', [], 'operator_revoke_all', now);
    const result = { sessions_revoked: revoked.sessions, refresh_tokens_deleted: revoked.refreshTokens, users: Number(users.rows[0]?.n ?? 0) };
    if (audit) await recordOperatorEvent(trx, 'operator_all_sessions_revoked', { id: null, email: null }, { ...audit, reason }, { ...result }, now);
    return result;
  });
}

/**
 * A fresh email-verification token for an unverified account, as the verification mail would carry it
 * (it supersedes the mailed one), for a client that POSTs it to /v1/auth/verify-email itself:
 * `secops readiness --probe-account`, whose throwaway address has no mailbox to read. Audited
 * (`operator_verification_token_issued`) in the same transaction. Undefined when the user does not
 * exist or is verified already (nothing to prove).
 */
export async function issueVerificationToken(
  knex: Knex,
  userId: string,
  ttlSeconds: number,
  now: Date = new Date(),
  audit?: OperatorAudit,
): Promise<string | undefined> {
  return knex.transaction(async (trx) => {
    const user = await trx('users').select('id', 'email', 'email_verified_at').where({ id: userId }).forUpdate().first();
    if (!user || user.email_verified_at !== null) return undefined;
    const token = await createAccountTokensRepo(trx).issue(trx, userId, 'verify_email', user.email, now, ttlSeconds);
    if (audit) await recordOperatorEvent(trx, 'operator_verification_token_issued', user, audit, { ttl_seconds: ttlSeconds }, now);
    return token;
  });
}

/**
 * Deletes the account as DELETE /v1/me does: the user row, and with it (foreign keys) every session,
 * refresh token, one-time and device token, conversation and message. The audit trail keeps its rows.
 */
export async function deleteAccount(knex: Knex, userId: string, now: Date = new Date(), audit?: OperatorAudit): Promise<{ sessions_deleted: number; conversations_deleted: number } | undefined> {
  return knex.transaction(async (trx) => {
    const user = await trx('users').select('id', 'email').where({ id: userId }).forUpdate().first();
    if (!user) return undefined;
    const counts = await trx.raw(
      `select (select count(*)::int from sessions where user_id = ?) as sessions,
              (select count(*)::int from conversations where user_id = ?) as conversations`,
      [userId, userId],
    );
    const result = { sessions_deleted: Number(counts.rows[0].sessions), conversations_deleted: Number(counts.rows[0].conversations) };
    await trx('users').where({ id: userId }).delete();
    if (audit) await recordOperatorEvent(trx, 'operator_user_deleted', user, audit, result, now);
    return result;
  });
}

/**
 * The account's data in the shape of GET /v1/me/export, as JSON text produced piece by piece:
 * `{"exported_at","user","sessions":[…],"conversations":[{…,"messages":[…]}],"audit_events":[…]}`.
 * The document is export-document.ts's, read through chat's and audit's own export readers, a page at a time. The export is audited first
 * (`operator_user_exported`), so the document includes its own row.
 */
export async function* exportAccount(knex: Knex, userId: string, now: Date = new Date(), audit?: OperatorAudit): AsyncGenerator<string> {
  const user = await knex('users').select('id', 'email', 'created_at', 'email_verified_at').where({ id: userId }).first();
  if (!user) throw new OperatorActionError('unknown_account', 'no such account');
  if (audit) await recordOperatorEvent(knex, 'operator_user_exported', user, audit, {}, now);
  const sessions = (await knex('sessions')
    .select('id', 'created_at', 'last_used_at', 'expires_at', 'revoked_at', 'revoked_reason', 'ip', 'user_agent', 'auth_time', 'amr')
    .where({ user_id: userId })
    .orderBy('created_at', 'desc')) as Record<string, unknown>[];
  const profileUser = {
    id: user.id,
    email: user.email,
    email_verified: user.email_verified_at !== null,
    email_verified_at: iso(user.email_verified_at),
    created_at: iso(user.created_at),
  };
  const sessionDocs = sessions.map((s) => ({
    id: s.id,
    created_at: iso(s.created_at as Date),
    last_used_at: iso(s.last_used_at as Date),
    expires_at: iso(s.expires_at as Date),
    revoked_at: iso(s.revoked_at as Date | null),
    revoked_reason: s.revoked_reason,
    ip: s.ip,
    user_agent: s.user_agent,
    auth_time: iso(s.auth_time as Date),
    amr: s.amr,
  }));
  yield* exportDocument({ user: profileUser, sessions: sessionDocs } as AccountProfile, exportConversations(knex, userId), auditEventsOf(knex, userId), now);
}
