import type { Middleware } from 'koa';
import type { Clock } from '../../platform/clock.js';
import { AppError } from '../../platform/errors.js';
import type { AuthContext } from './auth-types.js';

/**
 * Step-up for sensitive operations (email change, export, deletion, revoking other sessions): the
 * access token's auth_time must be within REAUTH_MAX_AGE_SECONDS, else 401 `reauthentication_required`
 * with the RFC 9470 challenge, and the client calls POST /v1/auth/reauthenticate.
 */
export function assertRecentAuthentication(auth: AuthContext, clock: Clock, maxAgeSeconds: number): void {
  const ageMs = clock.now().getTime() - auth.authTime.getTime();
  if (ageMs <= maxAgeSeconds * 1000) return;
  throw new AppError('reauthentication_required', {
    detail: `This operation needs a sign-in within the last ${maxAgeSeconds} seconds: reauthenticate (POST /v1/auth/reauthenticate) and retry.`,
    headers: {
      'WWW-Authenticate': `Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age=${maxAgeSeconds}`,
    },
  });
}

/** The same check as middleware, after `authenticate`. */
export function requireRecentAuthentication(clock: Clock, maxAgeSeconds: number): Middleware {
  return async (ctx, next) => {
    assertRecentAuthentication(ctx.state.auth as AuthContext, clock, maxAgeSeconds);
    await next();
  };
}
