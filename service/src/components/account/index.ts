/**
 * The account component: the user's own data, whole — GET /v1/me/export — and the end of the account —
 * DELETE /v1/me. It owns no table: it composes what auth, chat and audit hold through their entry
 * points, behind a recent authentication.
 */
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { limitRequests } from '../../platform/http/rate-limit.js';
import type { Metrics } from '../../platform/metrics.js';
import type { LimiterFactory } from '../../platform/rate-limit.js';
import type { AuditComponent } from '../audit/index.js';
import { type AuthComponent, type AuthContext, exportDocument, type RequestMeta } from '../auth/index.js';
import type { ChatComponent } from '../chat/index.js';

export interface AccountComponent {
  readonly routes: Router;
}

export interface AccountComponentDeps {
  auth: Pick<AuthComponent, 'service' | 'authenticate' | 'requireRecentAuth'>;
  chat: Pick<ChatComponent, 'exportFor'>;
  audit: Pick<AuditComponent, 'eventsOf'>;
  limiterFactory: LimiterFactory;
  metrics: Metrics;
  /** Exports per user per hour (a full export reads the whole history). */
  exportsPerHour?: number;
}

function meta(ctx: Context): RequestMeta {
  const ua = ctx.get('user-agent');
  return { ip: ctx.state.clientIp, userAgent: ua ? ua.slice(0, 512) : null, requestId: ctx.state.requestId, clientRequestId: ctx.state.clientRequestId };
}

export function createAccountComponent(deps: AccountComponentDeps): AccountComponent {
  const { auth, chat, audit } = deps;
  const perUserExports: Middleware = limitRequests({
    limiter: deps.limiterFactory({ name: 'export', points: deps.exportsPerHour ?? 5, windowSeconds: 3600 }),
    key: (ctx) => (ctx.state.auth as AuthContext | undefined)?.userId,
    metrics: deps.metrics,
  });
  const router = new Router();
  router.get('/v1/me/export', auth.authenticate, auth.requireRecentAuth, perUserExports, async (ctx) => {
    const caller = ctx.state.auth as AuthContext;
    const profile = await auth.service.profileOf(caller);
    await auth.service.recordExport(caller, meta(ctx));
    ctx.type = 'application/json';
    ctx.set('Content-Disposition', 'attachment; filename="rampart-account-export.json"');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = Readable.from(exportDocument(profile, chat.exportFor(caller.userId), audit.eventsOf(caller.userId)));
  });
  router.delete('/v1/me', auth.authenticate, auth.requireRecentAuth, async (ctx) => {
    await auth.service.deleteAccount(ctx.state.auth as AuthContext, meta(ctx));
    ctx.status = 204;
  });
  return { routes: router };
}
