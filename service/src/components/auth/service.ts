import type { Knex } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import type { AccessTokens, Clock } from './access-tokens.js';
import { normalizeEmail } from './email.js';
import type { Keyring } from './keyring.js';
import { normalizePassword, type PasswordCheck } from './password-policy.js';
import { type PasswordHasher, UnsupportedHashError } from './passwords.js';
import { deriveSuccessorToken, generateRefreshToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-tokens.js';
import type { LoginLockout } from './lockout.js';
import type { SessionGuard } from './session-guard.js';
import type { SessionsRepo } from './sessions-repo.js';
import { type PublicUser, toPublicUser, type UsersRepo } from './users-repo.js';

/** Who is asking, for sessions and the audit trail. */
export interface RequestMeta {
  ip: string;
  userAgent: string | null;
  requestId: string;
}

/** The authenticated caller, as the access-token middleware resolved it. */
export interface AuthContext {
  userId: string;
  sessionId: string;
}

export interface TokenResponse {
  user: PublicUser;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export interface AuthServiceDeps {
  knex: Knex;
  users: UsersRepo;
  sessions: SessionsRepo;
  hasher: PasswordHasher;
  checkPassword: (password: string, userInputs: string[]) => PasswordCheck;
  accessTokens: AccessTokens;
  keyring: () => Keyring;
  guard: SessionGuard;
  lockout: LoginLockout;
  audit: AuditLog;
  metrics: Pick<Metrics, 'authSuccessTotal' | 'authFailTotal'>;
  logger: Logger;
  clock: Clock;
  refreshTokenTtlSeconds: number;
  refreshReuseGraceSeconds: number;
}

const MAX_PASSWORD_CODE_POINTS = 128;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function invalidCredentials(): AppError {
  // One answer for unknown email and wrong password: same status, body and (with the dummy verify) timing.
  return new AppError('invalid_credentials', { detail: 'The email or password is incorrect.' });
}

function invalidRefreshToken(): AppError {
  return new AppError('invalid_refresh_token', { detail: 'The refresh token is invalid, expired or revoked.' });
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * The authentication flows, told as a story; every dependency arrives as an argument. Routes are
 * thin wrappers over these functions, which throw AppErrors from the catalogue.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { knex, users, sessions, hasher, accessTokens, guard, lockout, audit, metrics, clock } = deps;

  const fail = (flow: string, reason: string) => metrics.authFailTotal.inc({ flow, reason });
  const succeed = (flow: string) => metrics.authSuccessTotal.inc({ flow });
  const auditEvent = (meta: RequestMeta, event: Omit<AuditEvent, 'ip' | 'userAgent' | 'requestId'>) =>
    audit.record({ ...event, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId });

  function refreshExpiry(): Date {
    return new Date(clock.now().getTime() + deps.refreshTokenTtlSeconds * 1000);
  }

  /** A new session with its first refresh token (inside the caller's transaction, if any). */
  async function openSession(userId: string, meta: RequestMeta, trx?: Knex) {
    const refreshToken = generateRefreshToken();
    const sessionId = await sessions.openWithRefreshToken(
      { userId, ip: meta.ip, userAgent: meta.userAgent, expiresAt: refreshExpiry(), refreshHash: hashRefreshToken(refreshToken) },
      trx,
    );
    return { sessionId, refreshToken };
  }

  async function tokenResponse(user: PublicUser, sessionId: string, refreshToken: string): Promise<TokenResponse> {
    return {
      user,
      access_token: await accessTokens.issue(user.id, sessionId),
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: accessTokens.ttlSeconds,
    };
  }

  function weakPassword(check: Extract<PasswordCheck, { ok: false }>): AppError {
    return new AppError('weak_password', {
      detail: 'The password is too weak.',
      extensions: { feedback: check.feedback },
    });
  }

  return {
    async signup(input: { email: string; password: string }, meta: RequestMeta): Promise<TokenResponse> {
      const email = normalizeEmail(input.email);
      if (!email.ok) {
        fail('signup', 'invalid_email');
        await auditEvent(meta, { type: 'signup_failed', details: { reason: 'invalid_email' } });
        throw new AppError('invalid_email', { detail: email.reason });
      }
      const strength = deps.checkPassword(input.password, [email.email, email.email.split('@')[0] ?? '']);
      if (!strength.ok) {
        fail('signup', 'weak_password');
        await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'weak_password' } });
        throw weakPassword(strength);
      }
      // NIST SP 800-63B §5.1.1.2: hash the NFKC form, so the same password typed another way still verifies.
      const passwordHash = await hasher.hash(normalizePassword(input.password));
      const created = await knex.transaction(async (trx) => {
        const user = await users.insert(email.email, passwordHash, trx);
        if (!user) return undefined;
        const session = await openSession(user.id, meta, trx);
        return { user, ...session };
      });
      if (!created) {
        fail('signup', 'email_taken');
        await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'email_taken' } });
        throw new AppError('email_taken', { detail: 'An account with this email already exists.' });
      }
      succeed('signup');
      await auditEvent(meta, {
        type: 'signup_succeeded',
        userId: created.user.id,
        email: email.email,
        details: { session_id: created.sessionId },
      });
      return tokenResponse(toPublicUser(created.user), created.sessionId, created.refreshToken);
    },

    async login(input: { email: string; password: string }, meta: RequestMeta): Promise<TokenResponse> {
      const email = normalizeEmail(input.email);
      // The lockout is keyed by the address as typed (normalized when valid), whether or not it exists.
      const lockEmail = email.ok ? email.email : input.email.trim().toLowerCase().slice(0, 320);
      try {
        await lockout.assertNotLocked(lockEmail, meta.ip);
      } catch (err) {
        fail('login', 'locked_out');
        throw err;
      }
      const loginFailed = async (reason: string, userId?: string) => {
        fail('login', reason);
        await auditEvent(meta, {
          type: 'login_failed',
          userId: userId ?? null,
          email: email.ok ? email.email : null,
          details: { reason },
        });
        const outcome = await lockout.recordFailure(lockEmail, meta.ip);
        if (outcome.lockStarted) {
          await auditEvent(meta, {
            type: 'login_locked_out',
            userId: userId ?? null,
            email: email.ok ? email.email : null,
            details: { lock_seconds: outcome.lockSeconds },
          });
        }
        return invalidCredentials();
      };
      const password = normalizePassword(input.password);
      const user = email.ok ? await users.findByEmail(email.email) : undefined;
      if (!user || codePoints(password) > MAX_PASSWORD_CODE_POINTS) {
        // Same work as a real verify, so the answer's timing does not tell whether the account exists.
        await hasher.verifyDummy(password);
        throw await loginFailed(user ? 'wrong_password' : email.ok ? 'unknown_email' : 'invalid_email', user?.id);
      }
      let valid: boolean;
      try {
        valid = await hasher.verify(user.password_hash, password);
      } catch (err) {
        if (!(err instanceof UnsupportedHashError)) throw err;
        deps.logger.error({ user_id: user.id, err: err.message }, 'stored password hash refused; account cannot log in');
        throw await loginFailed('unsupported_hash', user.id);
      }
      if (!valid) throw await loginFailed('wrong_password', user.id);
      await lockout.recordSuccess(lockEmail, meta.ip);

      if (hasher.needsRehash(user.password_hash)) {
        const upgraded = await hasher.hash(password);
        // Compare-and-swap: a concurrent password change wins over the upgrade.
        if (await users.replacePasswordHash(user.id, user.password_hash, upgraded)) {
          await auditEvent(meta, { type: 'password_rehashed', userId: user.id, email: user.email });
        }
      }
      const session = await openSession(user.id, meta);
      succeed('login');
      await auditEvent(meta, {
        type: 'login_succeeded',
        userId: user.id,
        email: user.email,
        details: { session_id: session.sessionId },
      });
      return tokenResponse(toPublicUser(user), session.sessionId, session.refreshToken);
    },

    /**
     * Rotation, race-free: the token row is locked (`for update`), so concurrent refreshes of one
     * token run one after another. The first rotates; the others — and any retry within the grace
     * window — re-derive the same successor. After the window, presenting it again is reuse: the
     * whole session is revoked.
     */
    async refresh(input: { refresh_token: unknown }, meta: RequestMeta): Promise<TokenResponse> {
      const token = input.refresh_token;
      if (!looksLikeRefreshToken(token)) {
        fail('refresh', 'invalid_refresh_token');
        throw invalidRefreshToken();
      }
      const now = clock.now();
      const outcome = await knex.transaction(async (trx) => {
        const row = await sessions.findRefreshTokenForUpdate(trx, hashRefreshToken(token));
        if (!row) return { kind: 'invalid' as const };
        if (row.session_revoked_at || new Date(row.session_expires_at) <= now || new Date(row.expires_at) <= now) {
          return { kind: 'invalid' as const };
        }
        const successor = deriveSuccessorToken(token, deps.keyring().derivationKey);
        if (row.rotated_at === null) {
          const expiresAt = refreshExpiry();
          await sessions.insertRefreshToken(trx, {
            sessionId: row.session_id,
            hash: hashRefreshToken(successor),
            parentId: row.id,
            expiresAt,
          });
          await sessions.markRotated(trx, row.id, now);
          await sessions.touch(trx, row.session_id, now, expiresAt);
          return { kind: 'rotated' as const, row, successor };
        }
        const sinceRotation = now.getTime() - new Date(row.rotated_at).getTime();
        if (sinceRotation <= deps.refreshReuseGraceSeconds * 1000) {
          // A retry after a lost response. The successor must be the one stored (a key rotation in
          // between would derive another; then the retry is refused rather than forking the session).
          if (!(await sessions.childExists(trx, row.id, hashRefreshToken(successor)))) return { kind: 'invalid' as const };
          return { kind: 'retried' as const, row, successor };
        }
        await sessions.revoke(row.session_id, 'refresh_token_reused', undefined, trx);
        return { kind: 'reused' as const, row };
      });

      if (outcome.kind === 'invalid') {
        fail('refresh', 'invalid_refresh_token');
        throw invalidRefreshToken();
      }
      if (outcome.kind === 'reused') {
        guard.markRevoked(outcome.row.session_id);
        fail('refresh', 'refresh_token_reused');
        await auditEvent(meta, {
          type: 'refresh_token_reused',
          userId: outcome.row.user_id,
          details: { session_id: outcome.row.session_id },
        });
        throw new AppError('refresh_token_reused', {
          detail: 'This refresh token was already used; the session has been revoked. Log in again.',
        });
      }
      const user = await users.findById(outcome.row.user_id);
      if (!user) throw invalidRefreshToken();
      succeed('refresh');
      await auditEvent(meta, {
        type: 'token_refreshed',
        userId: user.id,
        details: { session_id: outcome.row.session_id, retry: outcome.kind === 'retried' },
      });
      return tokenResponse(toPublicUser(user), outcome.row.session_id, outcome.successor);
    },

    /** Revokes the session the refresh token belongs to. Unknown tokens are fine (idempotent 204). */
    async logout(input: { refresh_token: unknown }, meta: RequestMeta): Promise<void> {
      if (!looksLikeRefreshToken(input.refresh_token)) return;
      const found = await sessions.findSessionByRefreshHash(hashRefreshToken(input.refresh_token));
      if (!found) return;
      if (await sessions.revoke(found.session_id, 'logout')) {
        guard.markRevoked(found.session_id);
        await auditEvent(meta, { type: 'logout', userId: found.user_id, details: { session_id: found.session_id } });
      }
    },

    async logoutAll(auth: AuthContext, meta: RequestMeta): Promise<void> {
      const revoked = await sessions.revokeAllForUser(auth.userId, 'logout_all');
      for (const id of revoked) guard.markRevoked(id);
      await auditEvent(meta, { type: 'logout_all', userId: auth.userId, details: { sessions_revoked: revoked.length } });
    },

    async listSessions(auth: AuthContext): Promise<SessionView[]> {
      const rows = await sessions.listActive(auth.userId, clock.now());
      return rows.map((s) => ({
        id: s.id,
        created_at: new Date(s.created_at).toISOString(),
        last_used_at: new Date(s.last_used_at).toISOString(),
        ip: s.ip,
        user_agent: s.user_agent,
        current: s.id === auth.sessionId,
      }));
    },

    async revokeSession(auth: AuthContext, sessionId: string, meta: RequestMeta): Promise<void> {
      // Another user's session answers exactly like a missing one.
      if (!UUID.test(sessionId) || !(await sessions.revoke(sessionId, 'revoked_by_user', auth.userId))) {
        throw new AppError('not_found', { detail: 'No such session.' });
      }
      guard.markRevoked(sessionId);
      await auditEvent(meta, { type: 'session_revoked', userId: auth.userId, details: { session_id: sessionId } });
    },

    async changePassword(
      auth: AuthContext,
      input: { current_password: string; new_password: string },
      meta: RequestMeta,
    ): Promise<void> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_credentials');
      let valid = false;
      try {
        const current = normalizePassword(input.current_password);
        valid = codePoints(current) <= MAX_PASSWORD_CODE_POINTS && (await hasher.verify(user.password_hash, current));
      } catch (err) {
        if (!(err instanceof UnsupportedHashError)) throw err;
      }
      if (!valid) {
        fail('password_change', 'wrong_password');
        throw invalidCredentials();
      }
      const strength = deps.checkPassword(input.new_password, [user.email, user.email.split('@')[0] ?? '']);
      if (!strength.ok) {
        fail('password_change', 'weak_password');
        throw weakPassword(strength);
      }
      const next = await hasher.hash(normalizePassword(input.new_password));
      const revoked = await knex.transaction(async (trx) => {
        if (!(await users.replacePasswordHash(user.id, user.password_hash, next, trx))) return undefined;
        return sessions.revokeAllForUser(user.id, 'password_changed', auth.sessionId, trx);
      });
      if (!revoked) {
        // The hash changed under us (a concurrent change or rehash): the caller must retry with the current password.
        fail('password_change', 'conflict');
        throw invalidCredentials();
      }
      for (const id of revoked) guard.markRevoked(id);
      succeed('password_change');
      await auditEvent(meta, {
        type: 'password_changed',
        userId: user.id,
        email: user.email,
        details: { sessions_revoked: revoked.length },
      });
    },

    async me(auth: AuthContext): Promise<PublicUser> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      return toPublicUser(user);
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
