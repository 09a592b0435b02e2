import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { validate } from '../../../platform/http/validate.js';
import type { AuthContext, RequestMeta } from '../auth-types.js';
import type { PasskeyFlows } from './passkey-flows.js';
import { authenticationResponseSchema, registrationResponseSchema } from './response-schemas.js';

/** 1–64 characters, no control characters: it is shown in lists and mails. */
const passkeyName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}]*$/u, 'No control characters.');
const registerBody = z.strictObject({ response: registrationResponseSchema, name: passkeyName });
const renameBody = z.strictObject({ name: passkeyName });
const loginOptionsBody = z.strictObject({ email: z.string().max(1024).optional() });
const loginBody = z.strictObject({ response: authenticationResponseSchema, device_token: z.string().max(256).optional() });

export interface PasskeyRoutesDeps {
  service: PasskeyFlows;
  authenticate: Middleware;
  requireRecentAuth: Middleware;
  limits: { auth: Middleware; authAndLogin: Middleware };
  meta(ctx: Context): RequestMeta;
}

/** The /v1/auth/webauthn/* routes (docs/api.md, "Passkeys"): thin wrappers over webauthn/passkey-flows.ts. */
export function passkeyRoutes(router: Router, { service, authenticate, requireRecentAuth, limits, meta }: PasskeyRoutesDeps): void {
  const auth = (ctx: Context) => ctx.state.auth as AuthContext;
  const { auth: authLimit, authAndLogin: authAndLoginLimit } = limits;
  // An empty body (Content-Length: 0) is an empty object for the routes whose fields are all optional.
  const bodyOrEmpty = (ctx: Context) => ctx.request.body ?? {};

  router.post('/v1/auth/webauthn/register/options', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    ctx.body = await service.passkeyRegistrationOptions(auth(ctx));
  });
  router.post('/v1/auth/webauthn/register', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.registerPasskey(auth(ctx), validate(registerBody, ctx.request.body), meta(ctx));
  });
  router.get('/v1/auth/webauthn/credentials', authLimit, authenticate, async (ctx) => {
    ctx.body = await service.listPasskeys(auth(ctx));
  });
  router.patch('/v1/auth/webauthn/credentials/:id', authLimit, authenticate, async (ctx) => {
    const { name } = validate(renameBody, ctx.request.body);
    ctx.body = await service.renamePasskey(auth(ctx), ctx.params.id ?? '', name, meta(ctx));
  });
  router.delete('/v1/auth/webauthn/credentials/:id', authLimit, authenticate, requireRecentAuth, async (ctx) => {
    await service.deletePasskey(auth(ctx), ctx.params.id ?? '', meta(ctx));
    ctx.status = 204;
  });
  router.post('/v1/auth/webauthn/login/options', authAndLoginLimit, async (ctx) => {
    ctx.body = await service.passkeyLoginOptions(validate(loginOptionsBody, bodyOrEmpty(ctx)));
  });
  router.post('/v1/auth/webauthn/login', authAndLoginLimit, async (ctx) => {
    ctx.body = await service.passkeyLogin(validate(loginBody, ctx.request.body), meta(ctx));
  });
}
