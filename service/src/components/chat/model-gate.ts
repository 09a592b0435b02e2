import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createStreamSlots } from './stream-slots.js';

/**
 * The one gate every model call passes (streamed or not): at most `perUser` calls per user and
 * `total` in the whole deployment at once.
 *
 * With Redis the slots are leases shared by every replica: two sorted sets (the user's and the
 * deployment's) whose members are lease ids scored by their expiry in Redis's own clock (TIME), so
 * replicas with skewed clocks agree. A running call renews its lease every third of the lease; a
 * replica that dies stops renewing and its slots come back when the lease expires. Acquire, renew
 * and release are Lua scripts, each atomic. While Redis is unreachable the gate counts in memory,
 * per process (stream-slots.ts), as it always did; a lease is released where it was taken.
 */
export interface ModelGateOptions {
  perUser: number;
  total: number;
  leaseSeconds: number;
  /** The shared Redis; absent or unavailable → in-process counting. */
  redis?: { client: Redis; available(): boolean };
  keyPrefix?: string;
  onChange?: (activeHere: number) => void;
}

/** A held slot: `release` is idempotent and frees the slot at once. */
export interface ModelCallLease {
  release(): void;
}

export type GateRefusal = 'user' | 'total';

/** Keys: 1 user set, 2 total set. Args: lease id, lease ms, per-user cap, total cap. → 0 ok, 1 user full, 2 total full. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], now + ms, ARGV[1])
redis.call('ZADD', KEYS[2], now + ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ms * 2)
redis.call('PEXPIRE', KEYS[2], ms * 2)
return 0`;

/** Extends a lease still held (XX: a lease that already expired is not brought back). */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ms, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', now + ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ms * 2)
redis.call('PEXPIRE', KEYS[2], ms * 2)
return 0`;

/** Counts the live leases of a set (expired ones are not counted). */
const COUNT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

export function createModelGate(options: ModelGateOptions) {
  const prefix = `${options.keyPrefix ?? 'rampart'}:gate`;
  const leaseMs = options.leaseSeconds * 1000;
  const totalKey = `${prefix}:total`;
  const userKey = (userId: string) => `${prefix}:user:${userId}`;
  const memory = createStreamSlots({ perUser: options.perUser, total: options.total });
  let here = 0;
  const changed = (delta: number) => {
    here += delta;
    options.onChange?.(here);
  };

  function memoryAcquire(userId: string): ModelCallLease | GateRefusal {
    if (memory.activeFor(userId) >= options.perUser) return 'user';
    const release = memory.acquire(userId);
    return release ? { release } : 'total';
  }

  async function redisAcquire(client: Redis, userId: string): Promise<ModelCallLease | GateRefusal> {
    const id = randomUUID();
    const keys = [userKey(userId), totalKey];
    const answer = Number(await client.eval(ACQUIRE, 2, ...keys, id, leaseMs, options.perUser, options.total));
    if (answer === 1) return 'user';
    if (answer === 2) return 'total';
    const renew = setInterval(() => {
      client.eval(RENEW, 2, ...keys, id, leaseMs).catch(() => undefined); // a missed renewal is retried at the next tick
    }, Math.max(100, Math.floor(leaseMs / 3)));
    renew.unref();
    return {
      release() {
        clearInterval(renew);
        // If Redis is away now the lease simply expires; the slot is never held longer than that.
        client
          .multi()
          .zrem(keys[0] as string, id)
          .zrem(totalKey, id)
          .exec()
          .catch(() => undefined);
      },
    };
  }

  return {
    /** A lease on a slot, or which cap refused it. */
    async acquire(userId: string): Promise<ModelCallLease | GateRefusal> {
      const redis = options.redis;
      let lease: ModelCallLease | GateRefusal | undefined;
      if (redis?.available()) {
        try {
          lease = await redisAcquire(redis.client, userId);
        } catch {
          lease = undefined; // Redis failed mid-call: count in memory, like the rate limits
        }
      }
      lease ??= memoryAcquire(userId);
      if (typeof lease === 'string') return lease;
      changed(1);
      const inner = lease;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          inner.release();
          changed(-1);
        },
      };
    },
    /** Live model calls of a user (across replicas with Redis). */
    async activeFor(userId: string): Promise<number> {
      const redis = options.redis;
      if (redis?.available()) {
        try {
          return Number(await redis.client.eval(COUNT, 1, userKey(userId)));
        } catch {
          // Redis failed mid-call: what this process counts, like acquire.
        }
      }
      return memory.activeFor(userId);
    },
    /** Model calls held by this process. */
    activeHere: () => here,
  };
}

export type ModelGate = ReturnType<typeof createModelGate>;
