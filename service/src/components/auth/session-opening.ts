import type { Knex } from '../../platform/db.js';
import type { Authentication } from './access-tokens.js';
import type { AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import { generateRefreshToken, hashRefreshToken } from './refresh-tokens.js';
import type { PublicUser } from './users-repo.js';

/** Opening a session and answering with its tokens: what signup, login and a password change share. */
export function createSessionOpening(deps: Pick<AuthServiceDeps, 'sessions' | 'accessTokens' | 'clock' | 'refreshTokenTtlSeconds'>) {
  const { sessions, accessTokens, clock } = deps;

  function refreshExpiry(): Date {
    return new Date(clock.now().getTime() + deps.refreshTokenTtlSeconds * 1000);
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

  return { refreshExpiry, openSession, tokenResponse };
}

export type SessionOpening = ReturnType<typeof createSessionOpening>;
