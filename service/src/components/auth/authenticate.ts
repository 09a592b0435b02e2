import type { Context, Middleware } from 'koa';
import { currentRequestContext } from '../../platform/request-context.js';
import { type AccessTokens, invalidToken } from './access-tokens.js';
import type { SessionGuard } from './session-guard.js';
import type { AuthContext } from './service.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/**
 * Guards authenticated routes: a valid access token whose session is still active, else 401
 * `invalid_token` with `WWW-Authenticate: Bearer error="invalid_token"`. Sets `ctx.state.auth` and
 * the user id on the request's log context.
 */
export function authenticate(
  accessTokens: AccessTokens,
  guard: SessionGuard,
  /** A token was presented and refused (`invalid`: forged, malformed, expired; `revoked`: its session ended). */
  onRefused?: (ctx: Context, reason: 'invalid' | 'revoked') => Promise<void>,
): Middleware {
  return async (ctx, next) => {
    const match = BEARER.exec(ctx.get('authorization'));
    if (!match?.[1]) throw invalidToken();
    let claims: Awaited<ReturnType<AccessTokens['verify']>>;
    try {
      claims = await accessTokens.verify(match[1]);
    } catch (err) {
      await onRefused?.(ctx, 'invalid');
      throw err;
    }
    try {
      await guard.assertActive(claims.sid, claims.sub);
    } catch (err) {
      await onRefused?.(ctx, 'revoked');
      throw err;
    }
    const auth: AuthContext = { userId: claims.sub, sessionId: claims.sid, authTime: new Date(claims.auth_time * 1000), amr: claims.amr };
    ctx.state.auth = auth;
    const logContext = currentRequestContext();
    if (logContext) logContext.userId = claims.sub;
    await next();
  };
}
