import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { validate } from '../../platform/http/validate.js';
import type { Keyring } from './keyring.js';
import type { AuthContext, AuthService, RequestMeta } from './service.js';
import { passkeyRoutes } from './webauthn/passkey-routes.js';
import { authenticationResponseSchema } from './webauthn/response-schemas.js';

const credentials = z.strictObject({ email: z.string().max(1024), password: z.string().max(4096) });
const loginBody = z.strictObject({ email: z.string().max(1024), password: z.string().max(4096), device_token: z.string().max(256).optional() });
const refreshBody = z.strictObject({ refresh_token: z.string().max(1024) });
const passwordChange = z.strictObject({ current_password: z.string().max(4096), new_password: z.string().max(4096), device_token: z.string().max(256).optional() });
const emailOnly = z.strictObject({ email: z.string().max(1024) });
const tokenOnly = z.strictObject({ token: z.string().max(256) });
const resetConfirm = z.strictObject({ token: z.string().max(256), new_password: z.string().max(4096) });
const emailChange = z.strictObject({ new_email: z.string().max(1024) });
const passwordOnly = z.strictObject({
  password: z.string().max(4096),
  device_token: z.string().max(256).optional(),
  code: z.string().max(16).optional(),
  recovery_code: z.string().max(64).optional(),
  webauthn: authenticationResponseSchema.optional(),
});
const codeOnly = z.strictObject({ code: z.string().max(16) });
const mfaVerify = z
  .strictObject({
    mfa_token: z.string().max(128),
    code: z.string().max(16).optional(),
    recovery_code: z.string().max(64).optional(),
    webauthn: authenticationResponseSchema.optional(),
    device_token: z.string().max(256).optional(),
  })
  .refine((b) => [b.code, b.recovery_code, b.webauthn].filter((f) => f !== undefined).length === 1, {
    message: 'send exactly one of code, recovery_code and webauthn',
  });

function meta(ctx: Context): RequestMeta {
  const ua = ctx.get('user-agent');
  return { ip: ctx.state.clientIp, userAgent: ua ? ua.slice(0, 512) : null, requestId: ctx.state.requestId, clientRequestId: ctx.state.clientRequestId };
}

function auth(ctx: Context): AuthContext {
  return ctx.state.auth as AuthContext;
}

export interface AuthRoutesDeps {
  service: AuthService;
  authenticate: Middleware;
  /** After `authenticate`: the sensitive operations need a recent authentication. */
  requireRecentAuth: Middleware;
  emailVerification: 'required' | 'off';
  keyring: () => Keyring;
  /**
   * Per-IP limiters: every /v1/auth/* route but refresh spends from `auth`; login, refresh and signup
   * have their own buckets too (`authAndLogin` spends `auth` and `login` in one round trip), and every
   * route that sends mail spends from `mail`.
   */
  limits: Record<'auth' | 'authAndLogin' | 'refresh' | 'signup' | 'mail', Middleware>;
}

/** Thin HTTP wrappers over the auth flows (docs/api.md "Endpoints"). */
export function authRoutes({ service, authenticate, requireRecentAuth, emailVerification, keyring, limits }: AuthRoutesDeps): Router {
  const router = new Router();
  const { auth: authLimit, authAndLogin: authAndLoginLimit, refresh: refreshLimit, signup: signupLimit, mail: mailLimit } = limits;
  const noop: Middleware = (_ctx, next) => next();
  // Another session than the caller's own is a sensitive operation; ending one's own is not.
  const recentUnlessOwnSession: Middleware = (ctx, next) => (ctx.params.id === auth(ctx).sessionId ? next() : requireRecentAuth(ctx, next));

  router.post('/v1/auth/signup', authLimit, signupLimit, emailVerification === 'required' ? mailLimit : noop, async (ctx) => {
    const result = await service.signup(validate(credentials, ctx.request.body), meta(ctx));
    ctx.status = 'status' in result ? 202 : 201;
    ctx.body = result;
  });
  router.post('/v1/auth/verify-email', authLimit, async (ctx) => {
    ctx.body = await service.verifyEmail(validate(tokenOnly, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/verify-email/resend', authLimit, mailLimit, async (ctx) => {
    await service.resendVerification(validate(emailOnly, ctx.request.body), meta(ctx));
    ctx.status = 202;
    ctx.body = { status: 'verification_sent' };
  });
  router.post('/v1/auth/password-reset', authLimit, mailLimit, async (ctx) => {
    await service.requestPasswordReset(validate(emailOnly, ctx.request.body), meta(ctx));
    ctx.status = 202;
    ctx.body = { status: 'reset_requested' };
  });
  router.post('/v1/auth/password-reset/confirm', authLimit, async (ctx) => {
    await service.confirmPasswordReset(validate(resetConfirm, ctx.request.body), meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/email', authLimit, mailLimit, authenticate, requireRecentAuth, async (ctx) => {
    await service.requestEmailChange(auth(ctx), validate(emailChange, ctx.request.body), meta(ctx));
    ctx.status = 202;
    ctx.body = { status: 'confirmation_sent' };
  });
  router.post('/v1/auth/email/confirm', authLimit, async (ctx) => {
    await service.confirmEmailChange(validate(tokenOnly, ctx.request.body), meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/reauthenticate', authAndLoginLimit, authenticate, async (ctx) => {
    ctx.body = await service.reauthenticate(auth(ctx), validate(passwordOnly, ctx.request.body), meta(ctx));
  });
  // Second factors (docs/api.md "Multi-factor authentication").
  router.post('/v1/auth/mfa/verify', authAndLoginLimit, async (ctx) => {
    ctx.body = await service.verifyMfa(validate(mfaVerify, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/mfa/totp', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    ctx.body = await service.enrolTotp(auth(ctx), meta(ctx));
  });
  router.post('/v1/auth/mfa/totp/confirm', authLimit, authenticate, async (ctx) => {
    ctx.body = await service.confirmTotp(auth(ctx), validate(codeOnly, ctx.request.body), meta(ctx));
  });
  router.delete('/v1/auth/mfa/totp', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    await service.disableTotp(auth(ctx), meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/webauthn/reauthenticate/options', authLimit, authenticate, async (ctx) => {
    ctx.body = await service.reauthenticationPasskeyOptions(auth(ctx));
  });
  router.post('/v1/auth/mfa/recovery-codes', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    ctx.body = await service.regenerateRecoveryCodes(auth(ctx), meta(ctx));
  });
  router.post('/v1/auth/login', async (ctx) => {
    // The lockout's counters are read in the tick the per-IP buckets are spent, so on Redis the two
    // leave in one write (a round trip less per login: issue 24). A body that does not parse spends
    // from the buckets as before and gets its 400 after them.
    const body = loginBody.safeParse(ctx.request.body);
    const reading = body.success ? service.readLoginLockout(body.data, meta(ctx)) : undefined;
    await authAndLoginLimit(ctx, async () => {
      ctx.body = await service.login(body.success ? body.data : validate(loginBody, ctx.request.body), meta(ctx), reading);
    });
  });
  router.post('/v1/auth/refresh', refreshLimit, async (ctx) => {
    ctx.body = await service.refresh(validate(refreshBody, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/logout', authLimit, async (ctx) => {
    await service.logout(validate(refreshBody, ctx.request.body), meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/logout-all', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    await service.logoutAll(auth(ctx), meta(ctx));
    ctx.status = 204;
  });
  router.get('/v1/auth/sessions', authLimit, authenticate, async (ctx) => {
    ctx.body = { items: await service.listSessions(auth(ctx)) };
  });
  router.delete('/v1/auth/sessions/:id', authLimit, authenticate, recentUnlessOwnSession, async (ctx) => {
    await service.revokeSession(auth(ctx), ctx.params.id ?? '', meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/password', authAndLoginLimit, authenticate, async (ctx) => {
    ctx.body = await service.changePassword(auth(ctx), validate(passwordChange, ctx.request.body), meta(ctx));
  });
  router.get('/v1/me', authenticate, async (ctx) => {
    ctx.body = await service.me(auth(ctx));
  });
  passkeyRoutes(router, { service, authenticate, requireRecentAuth, limits: { auth: authLimit, authAndLogin: authAndLoginLimit }, meta });
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.body = keyring().jwks;
  });
  return router;
}
