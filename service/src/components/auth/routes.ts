import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { validate } from '../../platform/http/validate.js';
import type { Keyring } from './keyring.js';
import type { AuthContext, AuthService, RequestMeta } from './service.js';

const credentials = z.strictObject({ email: z.string().max(1024), password: z.string().max(4096) });
const refreshBody = z.strictObject({ refresh_token: z.string().max(1024) });
const passwordChange = z.strictObject({ current_password: z.string().max(4096), new_password: z.string().max(4096) });

function meta(ctx: Context): RequestMeta {
  const ua = ctx.get('user-agent');
  return { ip: ctx.state.clientIp, userAgent: ua ? ua.slice(0, 512) : null, requestId: ctx.state.requestId };
}

function auth(ctx: Context): AuthContext {
  return ctx.state.auth as AuthContext;
}

export interface AuthRoutesDeps {
  service: AuthService;
  authenticate: Middleware;
  keyring: () => Keyring;
  /** Per-IP limiters: every /v1/auth/* route but refresh spends from `auth`; login, refresh and signup have their own buckets too. */
  limits: Record<'auth' | 'login' | 'refresh' | 'signup', Middleware>;
}

/** Thin HTTP wrappers over the auth flows (docs/api.md "Endpoints"). */
export function authRoutes({ service, authenticate, keyring, limits }: AuthRoutesDeps): Router {
  const router = new Router();
  const { auth: authLimit, login: loginLimit, refresh: refreshLimit, signup: signupLimit } = limits;

  router.post('/v1/auth/signup', authLimit, signupLimit, async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.signup(validate(credentials, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/login', authLimit, loginLimit, async (ctx) => {
    ctx.body = await service.login(validate(credentials, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/refresh', refreshLimit, async (ctx) => {
    ctx.body = await service.refresh(validate(refreshBody, ctx.request.body), meta(ctx));
  });
  router.post('/v1/auth/logout', authLimit, async (ctx) => {
    await service.logout(validate(refreshBody, ctx.request.body), meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/logout-all', authLimit, authenticate, async (ctx) => {
    await service.logoutAll(auth(ctx), meta(ctx));
    ctx.status = 204;
  });
  router.get('/v1/auth/sessions', authLimit, authenticate, async (ctx) => {
    ctx.body = { items: await service.listSessions(auth(ctx)) };
  });
  router.delete('/v1/auth/sessions/:id', authLimit, authenticate, async (ctx) => {
    await service.revokeSession(auth(ctx), ctx.params.id ?? '', meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/password', authLimit, authenticate, async (ctx) => {
    await service.changePassword(auth(ctx), validate(passwordChange, ctx.request.body), meta(ctx));
    ctx.status = 204;
  });
  router.get('/v1/me', authenticate, async (ctx) => {
    ctx.body = await service.me(auth(ctx));
  });
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.body = keyring().jwks;
  });
  return router;
}
