import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError, type ErrorCode } from './errors.js';

/** One bucket's standing, for the RateLimit/RateLimit-Policy headers (IETF httpapi draft -08+). */
export interface LimitState {
  name: string;
  limit: number;
  remaining: number;
  resetSeconds: number;
  windowSeconds: number;
  /** Over the limit (a further request would be refused). */
  exceeded: boolean;
  /** Points used in the current window (the consecutive-failure count, for the lockout). */
  consumed: number;
}

export interface ConsumeResult {
  allowed: boolean;
  state: LimitState;
}

export interface Limiter {
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
  consume(key: string, points?: number): Promise<ConsumeResult>;
  /** Current standing without consuming; undefined when the key is unknown. */
  peek(key: string): Promise<LimitState | undefined>;
  /** Holds the key over its limit for `seconds`. */
  block(key: string, seconds: number): Promise<void>;
  reset(key: string): Promise<void>;
}

export interface LimiterSpec {
  name: string;
  points: number;
  windowSeconds: number;
  /** Once over the limit, stay blocked this long (0: until the window ends). */
  blockSeconds?: number;
}

export type LimiterFactory = (spec: LimiterSpec) => Limiter;

/**
 * Builds limiters on Redis when one is configured (one atomic round trip per check, shared by every
 * replica), with rate-limiter-flexible's insurance limiter in memory taking over at once while Redis
 * is unreachable; in memory only otherwise.
 */
export function createLimiterFactory(options: { redis?: Redis; keyPrefix?: string }): LimiterFactory {
  const prefix = options.keyPrefix ?? 'rampart';
  return (spec) => {
    const base = {
      keyPrefix: `${prefix}:rl:${spec.name}`,
      points: spec.points,
      duration: spec.windowSeconds,
      blockDuration: spec.blockSeconds ?? 0,
    };
    const memory = new RateLimiterMemory(base);
    const store: RateLimiterAbstract = options.redis
      ? new RateLimiterRedis({ ...base, storeClient: options.redis, insuranceLimiter: memory, rejectIfRedisNotReady: true })
      : memory;
    const stateOf = (res: RateLimiterRes): LimitState => ({
      name: spec.name,
      limit: spec.points,
      remaining: Math.max(0, res.remainingPoints),
      resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)),
      windowSeconds: spec.windowSeconds,
      exceeded: res.consumedPoints > spec.points,
      consumed: res.consumedPoints,
    });
    return {
      name: spec.name,
      limit: spec.points,
      windowSeconds: spec.windowSeconds,
      async consume(key, points = 1) {
        try {
          return { allowed: true, state: stateOf(await store.consume(key, points)) };
        } catch (rejection) {
          if (rejection instanceof RateLimiterRes) return { allowed: false, state: stateOf(rejection) };
          throw rejection;
        }
      },
      async peek(key) {
        const res = await store.get(key);
        return res ? stateOf(res) : undefined;
      },
      async block(key, seconds) {
        await store.block(key, seconds);
      },
      async reset(key) {
        await store.delete(key);
      },
    };
  };
}

/** `RateLimit` and `RateLimit-Policy` header values for one bucket (draft-ietf-httpapi-ratelimit-headers). */
export function rateLimitHeaders(state: LimitState): Record<string, string> {
  return {
    'RateLimit-Policy': `"${state.name}";q=${state.limit};w=${state.windowSeconds}`,
    RateLimit: `"${state.name}";r=${state.remaining};t=${state.resetSeconds}`,
  };
}

/** The 429 for a bucket that said no: Retry-After plus the bucket's RateLimit headers. */
export function rateLimitedError(state: LimitState, code: ErrorCode = 'rate_limited', detail?: string): AppError {
  const retryAfter = Math.max(1, state.resetSeconds);
  return new AppError(code, {
    detail: detail ?? `Too many requests; retry in ${retryAfter} s.`,
    headers: { 'Retry-After': String(retryAfter), ...rateLimitHeaders({ ...state, resetSeconds: retryAfter }) },
  });
}

/** Of several buckets, the one closest to its limit (its headers go on a successful response). */
export function tightest(states: readonly LimitState[]): LimitState | undefined {
  let best: LimitState | undefined;
  for (const s of states) if (!best || s.remaining / s.limit < best.remaining / best.limit) best = s;
  return best;
}
