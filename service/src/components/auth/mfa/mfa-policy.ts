import type { Middleware } from 'koa';
import { AppError } from '../../../platform/errors.js';
import type { AuthContext } from '../auth-types.js';

/**
 * MFA_REQUIRED (ASVS 5.0 6.3.3): with the policy on, a session that did not prove a second factor
 * (`mfa` missing from the token's amr) may only set one up and prove it — read its account, enrol TOTP
 * or a passkey, reauthenticate with the new factor, sign out everywhere. Everything else is 403
 * `mfa_enrolment_required`. A session opened before enrolment keeps its amr: after enrolling, the
 * client reauthenticates with the password and the new factor (or signs in again) to get `mfa`.
 */
const ALLOWED: readonly RegExp[] = [
  /^GET \/v1\/me$/,
  /^(POST|DELETE) \/v1\/auth\/mfa\/totp$/,
  /^POST \/v1\/auth\/mfa\/totp\/confirm$/,
  /^POST \/v1\/auth\/mfa\/recovery-codes$/,
  /^POST \/v1\/auth\/webauthn\/register(\/options)?$/,
  /^GET \/v1\/auth\/webauthn\/credentials$/,
  /^POST \/v1\/auth\/reauthenticate$/,
  /^POST \/v1\/auth\/webauthn\/reauthenticate\/options$/,
  /^POST \/v1\/auth\/logout-all$/,
];

export function mayProceedWithoutMfa(method: string, path: string): boolean {
  const request = `${method === 'HEAD' ? 'GET' : method} ${path.replace(/\/+$/, '')}`;
  return ALLOWED.some((r) => r.test(request));
}

/** After `authenticate`: enforces MFA_REQUIRED (a no-op when `required` is false). */
export function requireSecondFactorPolicy(required: boolean): Middleware {
  return async (ctx, next) => {
    const auth = ctx.state.auth as AuthContext | undefined;
    if (required && auth && !auth.amr.includes('mfa') && !mayProceedWithoutMfa(ctx.method, ctx.path)) {
      throw new AppError('mfa_enrolment_required', {
        detail: 'This service requires a second factor: set one up (POST /v1/auth/mfa/totp or a passkey), then reauthenticate with it.',
      });
    }
    await next();
  };
}
