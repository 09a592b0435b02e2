import Router from '@koa/router';
import Koa from 'koa';
import type { Dependencies } from './deps.js';
import { AppError } from './platform/errors.js';
import { accessLog } from './platform/http/access-log.js';
import { jsonBody } from './platform/http/json-body.js';
import { problemDetails } from './platform/http/problem.js';
import { limitRequests, rateLimitResponseHeaders, refuseBlockedClients } from './platform/http/rate-limit.js';
import { refusePlainHttp } from './platform/http/refuse-plain-http.js';
import { requestContext } from './platform/http/request-context.js';
import { memoizeStaticMatches, routeTemplateOf } from './platform/http/route-template.js';
import { securityHeaders } from './platform/http/security-headers.js';

export interface BuildAppOptions {
  /** Extra routers mounted after the service's own (tests use this to exercise the platform). */
  extraRouters?: Router[];
}

/**
 * The Koa application, its middleware order in one list. It never listens: main.ts (or a test)
 * decides where it runs.
 */
export function buildApp(deps: Dependencies, options: BuildAppOptions = {}): Koa {
  const { config, logger, metrics, lifecycle } = deps;
  const app = new Koa({ proxy: false });
  app.silent = true; // errors are logged by problemDetails, once, with the request id

  const router = new Router();
  // Bodies are read only for requests a route matched, so an unknown path is a 404 whatever it sends.
  router.use(jsonBody(config.http.maxRequestSizeBytes)); // 415 / 413 / 400 before a handler sees a body
  router.use(deps.health.routes.routes());
  router.use(deps.auth.routes.routes());
  router.use(deps.chat.routes.routes());
  router.use(deps.chat.usageRoutes.routes());
  router.use(deps.account.routes.routes());
  const openApiDocument = deps.openApiDocument;
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument;
  });
  for (const extra of options.extraRouters ?? []) router.use(extra.routes(), extra.allowedMethods());

  // Route template of a request before routing ran (metric labels must never be raw paths). Found
  // once per request: the breaker and the per-IP limiter both ask. A parameterless route's path is
  // matched once per method, for this and for the router's own dispatch (route-template.ts).
  memoizeStaticMatches(router);
  const templateOf = routeTemplateOf(router);
  const routeTemplates = new WeakMap<Koa.Context, string>();
  const routeOf = (ctx: Koa.Context) => {
    let route = routeTemplates.get(ctx);
    if (route === undefined) {
      route = templateOf(ctx.path, ctx.method);
      routeTemplates.set(ctx, route);
    }
    return route;
  };

  // /healthz, /readyz and /version are never rate-limited or blocked (contract, "Sessions and lockout").
  // Behind a load balancer that source-NATs, clients share an address with the probes: one abuser
  // blocked there would fail liveness and readiness for every pod on the node. These routes skip the
  // anomaly breaker and every limiter (and spend no point in them), keeping all the rest: request id,
  // access log, security headers, problem+json. Being public, /readyz tells only check states.
  const neverLimited = new Set(['/healthz', '/readyz', '/version']);
  const exceptHealthRoutes =
    (limit: Koa.Middleware): Koa.Middleware =>
    (ctx, next) =>
      neverLimited.has(routeOf(ctx)) ? next() : limit(ctx, next);

  app
    .use(deps.inFlight.middleware) // counted until the handler returns, even after its client left: shutdown waits for it
    .use(requestContext(config.http.trustedProxies, config.limits.ipv6Prefix)) // request id, client ip + limit key, async context for logs
    .use(accessLog(logger, metrics)) // one line + metrics per request, final status included
    .use(securityHeaders()) // on every response, errors too
    .use(rateLimitResponseHeaders()) // the closest bucket's RateLimit headers on every answer, errors too
    .use(problemDetails(logger)) // everything thrown below becomes problem+json
    .use(config.env === 'production' ? refusePlainHttp() : passThrough) // production: 403 https_required to plain HTTP the proxy forwarded, never a redirect
    .use(closeConnectionsWhenDraining(lifecycle))
    .use(exceptHealthRoutes(refuseBlockedClients(deps.breaker, metrics, routeOf))) // anomaly breaker: blocked IPs stop here
    .use(exceptHealthRoutes(limitRequests({ limiter: deps.globalLimiter, key: byClientIp, metrics, breaker: deps.breaker, routeOf }))) // per-IP burst breaker, every other route
    .use(unansweredAsProblem) // no route → 404, wrong method → 405 (with Allow), as problem+json
    .use(router.routes())
    .use(router.allowedMethods());
  return app;
}

const passThrough: Koa.Middleware = (_ctx, next) => next();

const byClientIp = (ctx: Koa.Context) => ctx.state.clientKey as string; // IPv6: its /64 (RATE_LIMIT_IPV6_PREFIX)

const unansweredAsProblem: Koa.Middleware = async (ctx, next) => {
  await next();
  if (ctx.body !== undefined && ctx.body !== null) return;
  if (ctx.status === 404) throw new AppError('not_found');
  if (ctx.status === 405 || ctx.status === 501) {
    // allowedMethods has set the Allow header (RFC 9110 §15.5.6); the problem keeps it.
    throw new AppError('method_not_allowed', { headers: { Allow: ctx.response.get('Allow') } });
  }
};

/** While draining, every response tells the client to open its next connection elsewhere. */
function closeConnectionsWhenDraining(lifecycle: Dependencies['lifecycle']): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      if (lifecycle.shuttingDown && !ctx.headerSent) ctx.set('Connection', 'close');
    }
  };
}
