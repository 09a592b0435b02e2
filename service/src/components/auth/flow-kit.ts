import type { Knex } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import type { AuditEvent } from '../audit/index.js';
import type { AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import type { PasswordCheck } from './password-policy.js';
import { generateRefreshToken, hashRefreshToken } from './refresh-tokens.js';
import type { PublicUser } from './users-repo.js';


export function invalidCredentials(): AppError {
  // One answer for unknown email and wrong password: same status, body and (with the dummy verify) timing.
  return new AppError('invalid_credentials', { detail: 'The email or password is incorrect.' });
}

export function invalidRefreshToken(): AppError {
  return new AppError('invalid_refresh_token', { detail: 'The refresh token is invalid, expired or revoked.' });
}

/** What every auth flow shares: metrics, audit, session opening and the token response. */
export function createFlowKit(deps: AuthServiceDeps) {
  const { sessions, accessTokens, audit, metrics, clock } = deps;

  const fail = (flow: string, reason: string) => metrics.authFailTotal.inc({ flow, reason });
  const succeed = (flow: string) => metrics.authSuccessTotal.inc({ flow });
  const auditEvent = (meta: RequestMeta, event: Omit<AuditEvent, 'ip' | 'userAgent' | 'requestId'>) =>
    audit.record({ ...event, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId });

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

  function weakPassword(check: Extract<PasswordCheck, { ok: false }>): AppError {
    return new AppError('weak_password', {
      detail: 'The password is too weak.',
      extensions: { feedback: check.feedback },
    });
  }

  return { fail, succeed, auditEvent, refreshExpiry, openSession, tokenResponse, weakPassword };
}

export type FlowKit = ReturnType<typeof createFlowKit>;
