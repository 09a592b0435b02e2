import type { Knex } from '../../platform/db.js';
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
   * `passwordHash` (undefined otherwise; see the repo): one statement, inside `trx` if given.
   */
  async function openSession(userId: string, passwordHash: string, meta: RequestMeta, trx?: Knex) {
    const refreshToken = generateRefreshToken();
    const sessionId = await sessions.openWithRefreshToken(
      {
        userId,
        passwordHash,
        ip: meta.ip,
        userAgent: meta.userAgent,
        expiresAt: refreshExpiry(),
        refreshHash: hashRefreshToken(refreshToken),
      },
      trx,
    );
    return sessionId === undefined ? undefined : { sessionId, refreshToken };
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

  return { refreshExpiry, openSession, tokenResponse };
}

export type SessionOpening = ReturnType<typeof createSessionOpening>;
