import type { Redis } from 'ioredis';

/**
 * Values that may be taken exactly once before they expire: MFA tokens between the password and the
 * second factor, WebAuthn challenges. On Redis when configured (GETDEL is atomic, so two replicas can
 * never both take one), else in this process's memory. Keys are hashed by the callers (a token never
 * becomes a key as is). Expiry follows the injected clock in memory; Redis keeps its own TTL.
 */
export interface OneTimeStore {
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** The value, removed in the same step; undefined when absent, taken or expired. */
  take(key: string): Promise<string | undefined>;
  /** The value without taking it (for state that survives a failed attempt). */
  peek(key: string): Promise<string | undefined>;
  /** Replaces the value, keeping the remaining lifetime; false when absent or expired. */
  replace(key: string, value: string): Promise<boolean>;
}

export function createOneTimeStore(options: { redis?: Redis; keyPrefix?: string; now: () => number }): OneTimeStore {
  const prefix = `${options.keyPrefix ?? ''}once:`;
  const redis = options.redis;
  if (redis) {
    return {
      async put(key, value, ttlSeconds) {
        await redis.set(prefix + key, value, 'EX', ttlSeconds);
      },
      async take(key) {
        return (await redis.getdel(prefix + key)) ?? undefined;
      },
      async peek(key) {
        return (await redis.get(prefix + key)) ?? undefined;
      },
      async replace(key, value) {
        return (await redis.set(prefix + key, value, 'KEEPTTL', 'XX')) === 'OK';
      },
    };
  }
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= options.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    async put(key, value, ttlSeconds) {
      // Expired entries go as new ones arrive: the map never outgrows what is live plus one sweep.
      if (entries.size > 10_000) for (const k of [...entries.keys()]) live(k);
      entries.set(key, { value, expiresAt: options.now() + ttlSeconds * 1000 });
    },
    async take(key) {
      const entry = live(key);
      entries.delete(key);
      return entry?.value;
    },
    async peek(key) {
      return live(key)?.value;
    },
    async replace(key, value) {
      const entry = live(key);
      if (!entry) return false;
      entry.value = value;
      return true;
    },
  };
}
