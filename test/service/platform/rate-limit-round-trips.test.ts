import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Context } from 'koa';
import { Redis } from 'ioredis';
import { createLoginLockout } from '../../../service/src/components/auth/lockout.js';
import { limitRequestsTogether } from '../../../service/src/platform/http/rate-limit.js';
import { createLimiterFactory, type LimiterFactory } from '../../../service/src/platform/rate-limit.js';
import { AppError } from '../../../service/src/platform/errors.js';
import { redisWritesOf } from '../../helpers/redis-writes.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';

/**
 * What a login asks Redis (issue 24: every write is a syscall on both sides, taken from the hashes'
 * CPU in a login flood). Peeks are one command each, so the lockout's peeks leave in one write; the
 * `auth` and `login` buckets are spent in one write; a success with nothing counted clears nothing.
 * The client auto-pipelines as the service's does (platform/redis.ts); its socket writes are counted.
 */
const url = testRedisUrl();
if (!url && REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');

describe('rate limits and the lockout in few Redis round trips', { skip: url ? false : 'no TEST_REDIS_URL' }, () => {
  const prefix = `round-trips-${process.pid}-${randomBytes(4).toString('hex')}`;
  let client: Redis;
  let factory: LimiterFactory;
  before(async () => {
    client = new Redis(url as string, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
    await client.ping();
    factory = createLimiterFactory({ redis: client, keyPrefix: prefix });
  });
  after(async () => {
    if (!client) return;
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });

  /** Socket writes `fn` makes on the client. */
  const writesOf = async (fn: () => Promise<unknown>): Promise<number> => (await redisWritesOf(client, fn)).writes;
  let n = 0;
  const fresh = () => `b${n++}`;

  it('a peek reads the count and the time left as the bucket holds them; an unknown key is undefined', async () => {
    const bucket = factory({ name: fresh(), points: 5, windowSeconds: 60 });
    assert.equal(await bucket.peek('k'), undefined);
    await bucket.consume('k');
    await bucket.consume('k');
    const state = await bucket.peek('k');
    assert.ok(state);
    assert.equal(state.consumed, 2);
    assert.equal(state.remaining, 3);
    assert.equal(state.exceeded, false);
    assert.ok(state.resetSeconds > 55 && state.resetSeconds <= 60, `reset in ${state.resetSeconds} s`);
    await bucket.block('k', 30);
    const blocked = await bucket.peek('k');
    assert.equal(blocked?.exceeded, true);
    assert.ok((blocked?.resetSeconds ?? 0) <= 30);
  });

  it('peeks issued together leave in one write', async () => {
    const a = factory({ name: fresh(), points: 5, windowSeconds: 60 });
    const b = factory({ name: fresh(), points: 5, windowSeconds: 60 });
    await Promise.all([a.consume('k'), b.consume('k')]);
    const writes = await writesOf(() => Promise.all([a.peek('k'), b.peek('k'), a.peek('other')]));
    assert.equal(writes, 1);
  });

  it('a peek while Redis is unreachable answers from the in-memory fallback', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => undefined);
    try {
      const bucket = createLimiterFactory({ redis: down, keyPrefix: prefix })({ name: fresh(), points: 5, windowSeconds: 60 });
      await bucket.consume('k');
      assert.equal((await bucket.peek('k'))?.consumed, 1);
    } finally {
      down.disconnect();
    }
  });

  it('buckets spent together: one write, each spends a point, and the first to refuse is the answer', async () => {
    const metricCalls: string[] = [];
    const metrics = { rateLimitDroppedTotal: { inc: (labels: { limiter: string }) => metricCalls.push(labels.limiter) } } as never;
    const wide = factory({ name: `wide-${fresh()}`, points: 100, windowSeconds: 60 });
    const narrow = factory({ name: `narrow-${fresh()}`, points: 2, windowSeconds: 60 });
    const byIp = (ctx: Context) => ctx.state.clientKey as string;
    const both = limitRequestsTogether([
      { limiter: wide, key: byIp, metrics },
      { limiter: narrow, key: byIp, metrics },
    ]);
    const attempt = async () => {
      const ctx = { state: { clientKey: '203.0.113.9' } } as unknown as Context;
      let reached = false;
      try {
        await both(ctx, async () => {
          reached = true;
        });
        return { reached, states: ctx.state.rateLimits };
      } catch (err) {
        return { reached, error: err, states: ctx.state.rateLimits };
      }
    };
    let first: Awaited<ReturnType<typeof attempt>> | undefined;
    assert.equal(await writesOf(async () => (first = await attempt())), 1, 'both buckets in one write');
    assert.equal(first?.reached, true);
    assert.equal((first?.states as unknown[] | undefined)?.length, 2, 'both standings recorded for the headers');
    await attempt();
    const third = await attempt();
    assert.equal(third.reached, false);
    assert.ok(third.error instanceof AppError && third.error.code === 'rate_limited');
    assert.deepEqual(metricCalls, [narrow.name], 'the refusal is the bucket that said no');
    assert.equal((await wide.peek('203.0.113.9'))?.consumed, 3, 'the wide bucket spent a point on the refused attempt too');
  });

  it('a success with no failures counted makes no round trip; after a failure it clears the failures', async () => {
    const lockout = createLoginLockout({ factory: (spec) => factory({ ...spec, name: `${spec.name}-${n}` }), maxFailures: 3, accountMaxFailuresPerHour: 100 });
    n += 1;
    const email = 'owner@example.com';
    const ip = '198.51.100.4';
    const clean = await lockout.begin(email, ip);
    assert.equal(clean.locked, undefined);
    assert.equal(await writesOf(() => clean.succeeded()), 0, 'nothing to clear');

    await lockout.recordFailure(email, ip);
    await lockout.recordFailure(email, ip);
    const afterFailures = await lockout.begin(email, ip);
    assert.equal(afterFailures.locked, undefined);
    assert.equal(await writesOf(() => afterFailures.succeeded()), 1, 'the failures are cleared, in one write');
    // Cleared: three more failures are needed before a lock, as for a fresh pair.
    await lockout.recordFailure(email, ip);
    await lockout.recordFailure(email, ip);
    assert.equal((await lockout.begin(email, ip)).locked, undefined);
    await lockout.recordFailure(email, ip);
    const locked = await lockout.begin(email, ip);
    assert.equal(locked.locked?.limiter, 'address');
  });

  it('the lockout’s check reads every counter in one write', async () => {
    const lockout = createLoginLockout({ factory: (spec) => factory({ ...spec, name: `${spec.name}-${n}` }), maxFailures: 3, accountMaxFailuresPerHour: 100 });
    n += 1;
    assert.equal(await writesOf(() => lockout.begin('someone@example.com', '198.51.100.5')), 1);
  });
});
