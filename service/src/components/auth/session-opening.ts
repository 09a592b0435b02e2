import type { Knex } from '../../platform/db.js';
import type { Authentication } from './access-tokens.js';
import type { AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import { MAX_DEVICES_PER_USER, newDeviceToken } from './device-tokens.js';
import { generateRefreshToken, hashRefreshToken } from './refresh-tokens.js';
import type { PublicUser } from './users-repo.js';

/** Opening a session and answering with its tokens: what signup, login and a password change share. */
export function createSessionOpening(
  deps: Pick<AuthServiceDeps, 'sessions' | 'accessTokens' | 'clock' | 'refreshTokenTtlSeconds' | 'sessionMaxAgeSeconds' | 'maxSessionsPerUser' | 'guard'>,
  outcomes: Pick<FlowOutcomes, 'auditEvent'>,
) {
  const { sessions, accessTokens, clock } = deps;

  /**
   * When a refresh token issued now expires: the idle limit (REFRESH_TOKEN_TTL_SECONDS) from now, but
   * never after the session's absolute end (SESSION_MAX_AGE_SECONDS from its login, `openedAt`).
   */
  function refreshExpiry(openedAt: Date = clock.now()): Date {
    const idle = clock.now().getTime() + deps.refreshTokenTtlSeconds * 1000;
    const absolute = openedAt.getTime() + deps.sessionMaxAgeSeconds * 1000;
    return new Date(Math.min(idle, absolute));
  }

  /** Sessions of `userId` that ended beyond MAX_SESSIONS_PER_USER: refused at once here, and audited. */
  async function ended(userId: string, evicted: readonly string[], meta: RequestMeta): Promise<void> {
    for (const id of evicted) {
      deps.guard.markRevoked(id);
      await outcomes.auditEvent(meta, { type: 'session_evicted', userId, details: { session_id: id, max_sessions: deps.maxSessionsPerUser } });
    }
  }

  /** A session was opened for `userId`: sessions beyond MAX_SESSIONS_PER_USER, least recently used first, end (audited). */
  async function evictBeyondLimit(userId: string, meta: RequestMeta): Promise<void> {
    await ended(userId, await sessions.evictBeyond(userId, deps.maxSessionsPerUser, clock.now()), meta);
  }

  /**
   * A password login's writes, once the password `passwordHash` is verified, in one round trip
   * (sessions-repo `openPasswordLogin`): the session with its first refresh token, the eviction
   * beyond MAX_SESSIONS_PER_USER (audited here), and a new device token unless the client came from
   * a known device. Nothing is written when the account has a second factor (`second_factor`: the MFA
   * step comes first) or its password changed since it was read (`password_changed`).
   */
  async function openPasswordLogin(userId: string, passwordHash: string, meta: RequestMeta, knownDevice: boolean) {
    const refreshToken = generateRefreshToken();
    const device = knownDevice ? undefined : newDeviceToken();
    const now = clock.now();
    const authentication: Authentication = { authTime: now, amr: ['pwd'] };
    const write = await sessions.openPasswordLogin({
      userId,
      passwordHash,
      ip: meta.ip,
      userAgent: meta.userAgent,
      expiresAt: refreshExpiry(now),
      refreshHash: hashRefreshToken(refreshToken),
      ...authentication,
      now,
      maxSessions: deps.maxSessionsPerUser,
      deviceHash: device?.hash ?? null,
      maxDevices: MAX_DEVICES_PER_USER,
    });
    if (write.outcome !== 'opened') return write;
    await ended(userId, write.evicted, meta);
    return { outcome: write.outcome, sessionId: write.sessionId, refreshToken, authentication, deviceToken: device?.token };
  }

  /**
   * A new session with its first refresh token, opened only while the user's password hash is still
   * `passwordHash` (undefined otherwise; see the repo): one statement, inside `trx` if given. The user
   * proved `amr` (default: the password) at `authTime` (default: now) — the session's auth_time; a
   * session opened without proving a factor (email verification) passes the epoch: never recent.
   */
  async function openSession(
    userId: string,
    passwordHash: string,
    meta: RequestMeta,
    trx?: Knex,
    amr: readonly string[] = ['pwd'],
    authTime: Date = clock.now(),
  ) {
    const refreshToken = generateRefreshToken();
    const authentication: Authentication = { authTime, amr };
    const sessionId = await sessions.openWithRefreshToken(
      {
        userId,
        passwordHash,
        ip: meta.ip,
        userAgent: meta.userAgent,
        expiresAt: refreshExpiry(),
        refreshHash: hashRefreshToken(refreshToken),
        ...authentication,
      },
      trx,
    );
    return sessionId === undefined ? undefined : { sessionId, refreshToken, authentication };
  }

  async function tokenResponse(user: PublicUser, sessionId: string, refreshToken: string, authentication: Authentication): Promise<TokenResponse> {
    return {
      user,
      access_token: await accessTokens.issue(user.id, sessionId, authentication),
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: accessTokens.ttlSeconds,
    };
  }

  return { refreshExpiry, openSession, openPasswordLogin, tokenResponse, evictBeyondLimit };
}

export type SessionOpening = ReturnType<typeof createSessionOpening>;
