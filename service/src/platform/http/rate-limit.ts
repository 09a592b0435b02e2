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

/** A bucket said no: counted (and told to the abuse breaker), then 429 `rate_limited` with its headers. */
async function refuse(ctx: Context, options: LimitRequestsOptions, state: LimitState): Promise<never> {
  const route = options.routeOf?.(ctx) ?? (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
  options.metrics.rateLimitDroppedTotal.inc({ limiter: options.limiter.name, route });
  if (options.breaker) await options.breaker.recordRejection(clientKeyOf(ctx));
  throw rateLimitedError(state);
}

/** Consumes one point from a bucket; over the limit → 429 `rate_limited` with Retry-After and RateLimit headers. */
export function limitRequests(options: LimitRequestsOptions): Middleware {
  return async (ctx, next) => {
    const key = options.key(ctx);
    if (key === undefined) return next();
    const { allowed, state } = await options.limiter.consume(key);
    recordState(ctx, state);
    if (!allowed) await refuse(ctx, options, state);
    await next();
  };
}

/**
 * Several buckets spent at once: every consume is issued in the same tick, so on Redis they leave in
 * one write (ioredis auto-pipelining) instead of a round trip each. Every bucket that applies spends
 * a point whatever the others answer; the first in `list` that says no is the refusal — its 429, its
 * headers, its metric — as when they ran one after another.
 */
export function limitRequestsTogether(list: readonly LimitRequestsOptions[]): Middleware {
  return async (ctx, next) => {
    const applicable = list.flatMap((options) => {
      const key = options.key(ctx);
      return key === undefined ? [] : [{ options, key }];
    });
    const results = await Promise.all(applicable.map(async ({ options, key }) => ({ options, ...(await options.limiter.consume(key)) })));
    for (const { state } of results) recordState(ctx, state);
    const refused = results.find((r) => !r.allowed);
    if (refused) await refuse(ctx, refused.options, refused.state);
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
