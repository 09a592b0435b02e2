import type { Logger } from './logger.js';
import type { LimiterFactory, LimitState } from './rate-limit.js';
import { type Clock, systemClock } from './clock.js';

export interface AbuseBreakerOptions {
  factory: LimiterFactory;
  /** Rejections per IP per minute that trip the breaker. */
  threshold: number;
  /** How long a tripped IP stays blocked. */
  blockSeconds: number;
  logger: Logger;
  onBlock?: () => void;
  /**
   * How long a "not blocked" answer is trusted for an IP this replica has not refused since (ms;
   * default 1000): a block started by another replica is seen within this, as a revocation is
   * (components/auth/session-guard.ts). Saves one Redis round trip on almost every request.
   */
  clearTtlMs?: number;
  maxEntries?: number;
  /** Time for the "not blocked" cache (default: the system clock; tests pass one they move). */
  clock?: Clock;
}

/**
 * Anomaly breaker: a client that keeps hammering after being refused (more than `threshold`
 * rejections in a minute) is blocked outright for a cooling-off period. Logged once when the block
 * starts, not per request; while blocked, requests are refused before any other limiter runs.
 * Keyed by the client's limit key (limit-key.ts: an IPv4 address, an IPv6 client's /64), so
 * rotating addresses inside one network does not escape it.
 */
export function createAbuseBreaker(options: AbuseBreakerOptions) {
  const limiter = options.factory({
    name: 'abuse',
    points: options.threshold,
    windowSeconds: 60,
    blockSeconds: options.blockSeconds,
  });
  const clearTtlMs = options.clearTtlMs ?? 1000;
  const maxEntries = options.maxEntries ?? 50_000;
  /** Client key → until when its "not blocked" answer is trusted (`now()` ms). */
  const clear = new Map<string, number>();
  const clock = options.clock ?? systemClock;
  const now = () => clock.now().getTime();
  return {
    /** The block's standing when the client `key` is blocked, else undefined. */
    async blocked(key: string): Promise<LimitState | undefined> {
      const t = now();
      if ((clear.get(key) ?? 0) > t) return undefined;
      const state = await limiter.peek(key);
      if (state?.exceeded) return { ...state, windowSeconds: options.blockSeconds };
      if (clear.size >= maxEntries) clear.clear();
      clear.set(key, t + clearTtlMs);
      return undefined;
    },
    async recordRejection(key: string): Promise<void> {
      // A refused client may be about to trip the breaker: from now on ask Redis again.
      clear.delete(key);
      const { state } = await limiter.consume(key);
      if (state.consumed === options.threshold + 1) {
        options.onBlock?.();
        options.logger.warn(
          { client_key: key, rejections_per_minute: state.consumed, block_seconds: options.blockSeconds },
          'abuse breaker: IP blocked after repeated rate-limit rejections',
        );
      }
    },
  };
}

export type AbuseBreaker = ReturnType<typeof createAbuseBreaker>;
