import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { type Clock, systemClock } from './clock.js';
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
  /**
   * A request-rate bucket whose points may be claimed from Redis a few at a time and spent locally
   * (see `leaseSize`). Only for buckets that count requests: never for lockout counters, whose
   * `consumed` is read as a failure count, nor for buckets with `blockSeconds`.
   */
  lease?: boolean;
}

/** Share of a bucket's limit one replica may claim in one Redis round trip: 2 %. */
export const LEASE_FRACTION = 1 / 50;

/**
 * Points a replica claims from Redis at once for a leased bucket: 2 % of the limit, at least 1 (a
 * bucket under 100 points stays exact, one round trip per request) and at most `max`
 * (RATE_LIMIT_LEASE_MAX; 1 turns leasing off).
 */
export function leaseSize(limit: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(limit * LEASE_FRACTION)));
}

export interface LimiterFactoryOptions {
  redis?: Redis;
  keyPrefix?: string;
  /** Largest lease a leased bucket claims (default 64; 1: every request asks Redis). */
  leaseMax?: number;
  /** Leases live no longer than the window Redis reported, on this clock. */
  clock?: Clock;
  /** Local leases kept at most (oldest dropped first: a dropped lease only forfeits its points). */
  maxLeases?: number;
}

interface Lease {
  /** The Redis connection it was claimed on (see `connection` in createLimiterFactory). */
  connection: number;
  /** Points of the bucket known used when claimed (ours included), capped at the limit. */
  claimed: number;
  /** Claimed points not yet spent here; 0 with `claimed` ≥ limit means the window is exhausted. */
  left: number;
  expiresAt: number;
}

export type LimiterFactory = (spec: LimiterSpec) => Limiter;

/**
 * A bucket's count and its remaining time in one command. rate-limiter-flexible's own `get` sends
 * GET and PTTL in a MULTI transaction, which ioredis writes on its own; a script is one command, so
 * peeks issued together (the lockout's) leave in one write with ioredis's auto-pipelining.
 */
const PEEK_SCRIPT = "return {redis.call('get', KEYS[1]), redis.call('pttl', KEYS[1])}";
const PEEK_COMMAND = 'rampartLimitPeek';
type PeekingRedis = Redis & { [PEEK_COMMAND](key: string): Promise<[string | null, number]> };

/**
 * Builds limiters on Redis when one is configured (one atomic round trip per check, shared by every
 * replica), with rate-limiter-flexible's insurance limiter in memory taking over at once while Redis
 * is unreachable; in memory only otherwise.
 *
 * Leased buckets (`spec.lease`, issue 24) claim `leaseSize` points per round trip and spend them
 * locally until they run out or the window ends, so the busiest buckets — per IP and per user on
 * every authenticated read — cost a round trip every few dozen requests instead of every request.
 * The error is bounded and only ever in the client's disfavour: Redis counts claimed points as used,
 * so all replicas together never admit more than the limit in a window; a client may be refused up
 * to (replicas − 1) × (lease − 1) points early while other replicas hold unspent claims, and the
 * RateLimit `remaining` a replica reports is off by as much. Once a claim comes back with nothing
 * left, the replica refuses that key locally until the window ends: a flood against a spent bucket
 * costs no round trips at all. Without Redis, or while it is unreachable, nothing is leased: the
 * memory limiter counts every request (no round trip to save).
 */
export function createLimiterFactory(options: LimiterFactoryOptions): LimiterFactory {
  const prefix = options.keyPrefix ?? 'rampart';
  const redis = options.redis as PeekingRedis | undefined;
  if (redis && typeof redis[PEEK_COMMAND] !== 'function') redis.defineCommand(PEEK_COMMAND, { numberOfKeys: 1, lua: PEEK_SCRIPT });
  const clock = options.clock ?? systemClock;
  const leaseMax = options.leaseMax ?? 64;
  const maxLeases = options.maxLeases ?? 100_000;
  // Each (re)connection to Redis starts a new generation of leases: a Redis that was restarted lost
  // its counters, and one that was unreachable may have been counting without us; points claimed
  // before are forfeited, and the next request claims afresh from what Redis holds now.
  let connection = 0;
  options.redis?.on('ready', () => {
    connection += 1;
  });
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
    const consumeFromStore = async (key: string, points: number): Promise<{ allowed: boolean; res: RateLimiterRes }> => {
      try {
        return { allowed: true, res: await store.consume(key, points) };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return { allowed: false, res: rejection };
        throw rejection;
      }
    };
    const lease = spec.lease === true && !spec.blockSeconds ? leaseSize(spec.points, leaseMax) : 1;
    const leases = new Map<string, Lease>();
    const leaseState = (l: Lease, now: number): LimitState => {
      const used = l.claimed - l.left;
      return {
        name: spec.name,
        limit: spec.points,
        remaining: Math.max(0, spec.points - used),
        resetSeconds: Math.max(0, Math.ceil((l.expiresAt - now) / 1000)),
        windowSeconds: spec.windowSeconds,
        exceeded: false,
        consumed: used,
      };
    };
    const keep = (key: string, l: Lease) => {
      if (leases.size >= maxLeases && !leases.has(key)) {
        // Insertion order: drop the oldest tenth. Forgetting a lease only forfeits its unspent points.
        let drop = Math.ceil(maxLeases / 10);
        for (const k of leases.keys()) {
          leases.delete(k);
          if (--drop === 0) break;
        }
      }
      leases.set(key, l);
    };
    /** One point from the local lease, claiming a new one from the store when it is spent or stale. */
    async function consumeLeased(key: string): Promise<ConsumeResult> {
      const now = clock.now().getTime();
      const held = leases.get(key);
      if (held && held.expiresAt > now && held.connection === connection) {
        if (held.left > 0) {
          held.left -= 1;
          return { allowed: true, state: leaseState(held, now) };
        }
        if (held.claimed >= spec.points) return { allowed: false, state: { ...leaseState(held, now), exceeded: true } };
      }
      const { res } = await consumeFromStore(key, lease);
      // Of the `lease` points just claimed, those beyond the limit were never available.
      const granted = Math.max(0, Math.min(lease, spec.points - (res.consumedPoints - lease)));
      const claimed = Math.min(res.consumedPoints, spec.points);
      const next: Lease = { connection, claimed, left: Math.max(0, granted - 1), expiresAt: now + Math.max(0, res.msBeforeNext) };
      leases.delete(key); // re-inserted last: the map stays in claim order for `keep`
      keep(key, next);
      if (granted === 0) return { allowed: false, state: { ...leaseState(next, now), exceeded: true } };
      return { allowed: true, state: leaseState(next, now) };
    }
    return {
      name: spec.name,
      limit: spec.points,
      windowSeconds: spec.windowSeconds,
      async consume(key, points = 1) {
        // Leases come from Redis only: while it is away the in-memory insurance limiter counts each
        // request exactly, and no lease claimed from it outlives Redis's return.
        if (lease > 1 && points === 1 && options.redis?.status === 'ready') return consumeLeased(key);
        const { allowed, res } = await consumeFromStore(key, points);
        return { allowed, state: stateOf(res) };
      },
      async peek(key) {
        if (redis?.status === 'ready') {
          try {
            const [value, ttlMs] = await redis[PEEK_COMMAND](store.getKey(key));
            if (value === null) return undefined;
            const consumed = Number.parseInt(value, 10);
            return stateOf(new RateLimiterRes(Math.max(spec.points - consumed, 0), ttlMs, consumed));
          } catch {
            // As rate-limiter-flexible's get: its insurance limiter answers below while Redis is away.
          }
        }
        const res = await store.get(key);
        return res ? stateOf(res) : undefined;
      },
      async block(key, seconds) {
        leases.delete(key);
        await store.block(key, seconds);
      },
      async reset(key) {
        leases.delete(key);
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
