import type { Context, Middleware } from 'koa';
import type { AbuseBreaker } from '../abuse-breaker.js';
import type { Metrics } from '../metrics.js';
import { type Limiter, type LimitState, rateLimitedError, rateLimitHeaders, tightest } from '../rate-limit.js';

export interface LimitRequestsOptions {
  limiter: Limiter;
  /** The bucket key; undefined skips this limiter for the request. */
  key: (ctx: Context) => string | undefined;
  metrics: Pick<Metrics, 'rateLimitDroppedTotal'>;
  breaker?: AbuseBreaker;
  /** Route template for the metric (defaults to the matched route). */
  routeOf?: (ctx: Context) => string;
}

function recordState(ctx: Context, state: LimitState) {
  const states = (ctx.state.rateLimits as LimitState[] | undefined) ?? [];
  states.push(state);
  ctx.state.rateLimits = states;
}

/** Consumes one point from a bucket; over the limit → 429 `rate_limited` with Retry-After and RateLimit headers. */
export function limitRequests(options: LimitRequestsOptions): Middleware {
  const { limiter, metrics, breaker } = options;
  return async (ctx, next) => {
    const key = options.key(ctx);
    if (key === undefined) return next();
    const { allowed, state } = await limiter.consume(key);
    recordState(ctx, state);
    if (!allowed) {
      const route = options.routeOf?.(ctx) ?? (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.rateLimitDroppedTotal.inc({ limiter: limiter.name, route });
      if (breaker) await breaker.recordRejection(clientKeyOf(ctx));
      throw rateLimitedError(state);
    }
    await next();
  };
}

/** The client's per-IP limit key (request-context.ts: IPv6 by its prefix); the full address if none was derived. */
export const clientKeyOf = (ctx: Context): string => (ctx.state.clientKey ?? ctx.state.clientIp) as string;

/** Refuses requests from a client (IPv6: its whole prefix) the abuse breaker has blocked, before any other limiter spends a point. */
export function refuseBlockedClients(
  breaker: AbuseBreaker,
  metrics: Pick<Metrics, 'rateLimitDroppedTotal'>,
  routeOf: (ctx: Context) => string,
): Middleware {
  return async (ctx, next) => {
    const block = await breaker.blocked(clientKeyOf(ctx));
    if (block) {
      metrics.rateLimitDroppedTotal.inc({ limiter: 'abuse', route: routeOf(ctx) });
      throw rateLimitedError(block, 'rate_limited', 'This client is temporarily blocked after repeated rate-limit violations.');
    }
    await next();
  };
}

/** Puts the RateLimit headers of the bucket closest to its limit on every answer that has none yet. */
export function rateLimitResponseHeaders(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.headerSent || ctx.response.get('RateLimit')) return;
    const state = tightest((ctx.state.rateLimits as LimitState[] | undefined) ?? []);
    if (state) ctx.set(rateLimitHeaders(state));
  };
}
