import type { Logger } from './logger.js';
import type { LimiterFactory, LimitState } from './rate-limit.js';

export interface AbuseBreakerOptions {
  factory: LimiterFactory;
  /** Rejections per IP per minute that trip the breaker. */
  threshold: number;
  /** How long a tripped IP stays blocked. */
  blockSeconds: number;
  logger: Logger;
  onBlock?: () => void;
}

/**
 * Anomaly breaker: an IP that keeps hammering after being refused (more than `threshold`
 * rejections in a minute) is blocked outright for a cooling-off period. Logged once when the block
 * starts, not per request; while blocked, requests are refused before any other limiter runs.
 */
export function createAbuseBreaker(options: AbuseBreakerOptions) {
  const limiter = options.factory({
    name: 'abuse',
    points: options.threshold,
    windowSeconds: 60,
    blockSeconds: options.blockSeconds,
  });
  return {
    /** The block's standing when `ip` is blocked, else undefined. */
    async blocked(ip: string): Promise<LimitState | undefined> {
      const state = await limiter.peek(ip);
      return state?.exceeded ? { ...state, windowSeconds: options.blockSeconds } : undefined;
    },
    async recordRejection(ip: string): Promise<void> {
      const { state } = await limiter.consume(ip);
      if (state.consumed === options.threshold + 1) {
        options.onBlock?.();
        options.logger.warn(
          { ip, rejections_per_minute: state.consumed, block_seconds: options.blockSeconds },
          'abuse breaker: IP blocked after repeated rate-limit rejections',
        );
      }
    },
  };
}

export type AbuseBreaker = ReturnType<typeof createAbuseBreaker>;
