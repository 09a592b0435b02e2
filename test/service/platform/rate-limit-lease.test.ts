import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createLimiterFactory, type Limiter, LEASE_FRACTION, leaseSize } from '../../../service/src/platform/rate-limit.js';
import { manualClock } from '../../helpers/clock.js';
import { redisUnderPrefix } from '../../helpers/prefixed-redis.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';

/**
 * Leased buckets (issue 24): the per-IP and per-user request buckets claim 2 % of their limit from
 * Redis at once and spend it locally. What must hold: replicas together never admit more than the
 * limit; a client is refused at most (replicas − 1) × (lease − 1) points early; the round trips drop
 * to one per lease; a spent window is refused locally; small buckets and unleased ones stay exact.
 * The Redis counter is read directly: it is what every replica agrees on.
 */
const url = testRedisUrl();
if (!url && REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');

describe('leaseSize', () => {
  it('is 2 % of the limit, at least 1 and at most the configured maximum', () => {
    assert.equal(LEASE_FRACTION, 0.02);
    assert.equal(leaseSize(600, 64), 12, 'the default per-IP bucket');
    assert.equal(leaseSize(300, 64), 6, 'the default per-user bucket');
    assert.equal(leaseSize(99, 64), 1, 'under 100 points a bucket stays exact');
    assert.equal(leaseSize(100_000_000, 64), 64);
    assert.equal(leaseSize(100_000_000, 1), 1, 'RATE_LIMIT_LEASE_MAX=1 turns leasing off');
  });
});

describe('leased rate-limit buckets on a shared Redis', { skip: url ? false : 'no TEST_REDIS_URL' }, () => {
  const shared = redisUnderPrefix(url as string, 'lease-test');
  const { prefix } = shared;

  let bucket = 0;
  /** A fresh bucket name; `replicas` limiters on it, as `replicas` service instances would build them. */
  function replicas(count: number, spec: { points: number; lease?: boolean; blockSeconds?: number }, clock = manualClock()) {
    const name = `b${bucket++}`;
    const limiters = Array.from({ length: count }, () =>
      createLimiterFactory({ redis: shared.client, keyPrefix: prefix, clock })({
        name,
        windowSeconds: 60,
        lease: spec.lease ?? true,
        ...spec,
      }),
    );
    const counter = async (key: string) => Number((await shared.client.get(`${prefix}:rl:${name}:${key}`)) ?? 0);
    return { limiters, counter, clock };
  }
  const admitted = async (limiter: Limiter, key: string, n: number) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if ((await limiter.consume(key)).allowed) ok += 1;
    return ok;
  };

  it('claims one lease per round trip: the shared counter moves by the lease, not by the request', async () => {
    const { limiters, counter } = replicas(1, { points: 600 });
    const [a] = limiters as [Limiter];
    assert.equal(await admitted(a, 'ip', 1), 1);
    assert.equal(await counter('ip'), 12, 'the first request claimed 12 points (2 % of 600)');
    assert.equal(await admitted(a, 'ip', 11), 11);
    assert.equal(await counter('ip'), 12, 'the next 11 were spent locally: no round trip');
    assert.equal(await admitted(a, 'ip', 1), 1);
    assert.equal(await counter('ip'), 24, 'the 13th claimed the next lease');
  });

  it('replicas together never admit more than the limit, and refuse at most (replicas − 1) × (lease − 1) early', async () => {
    const { limiters } = replicas(3, { points: 500 }); // lease 10
    const key = '198.51.100.7';
    let total = 0;
    // Round-robin, as a load balancer spreads one client, until every replica refuses.
    for (let round = 0; round < 400; round++) for (const l of limiters) if ((await l.consume(key)).allowed) total += 1;
    assert.ok(total <= 500, `admitted ${total} > limit 500`);
    assert.ok(total >= 500 - 2 * 9, `admitted ${total}: refused more than (3 − 1) × (10 − 1) points early`);
  });

  it('a spent window is refused locally: a flood against it adds nothing to the shared counter', async () => {
    const { limiters, counter } = replicas(1, { points: 200 }); // lease 4
    const [a] = limiters as [Limiter];
    assert.equal(await admitted(a, 'u', 250), 200);
    const after = await counter('u');
    const refused = await a.consume('u');
    assert.equal(refused.allowed, false);
    assert.equal(refused.state.exceeded, true);
    assert.equal(refused.state.remaining, 0);
    assert.ok(refused.state.resetSeconds > 0 && refused.state.resetSeconds <= 60);
    await admitted(a, 'u', 100);
    assert.equal(await counter('u'), after, 'no round trip while the window is known to be spent');
  });

  it('a lease ends with the window Redis reported: past it the replica asks again', async () => {
    const { limiters, counter, clock } = replicas(1, { points: 1000 }); // lease 20
    const [a] = limiters as [Limiter];
    await admitted(a, 'k', 1);
    assert.equal(await counter('k'), 20);
    await clock.tick(61_000); // the lease's window is over on the replica's clock
    await admitted(a, 'k', 1);
    assert.equal(await counter('k'), 40, 'the stale lease was not spent; a new one was claimed');
  });

  it('reports the standing of the bucket from the lease: remaining counts every point claimed', async () => {
    const { limiters } = replicas(2, { points: 1000 }); // lease 20
    const [a, b] = limiters as [Limiter, Limiter];
    await b.consume('s'); // B holds 19 unspent points
    const first = await a.consume('s');
    assert.equal(first.allowed, true);
    assert.equal(first.state.consumed, 40 - 19, 'A counts B’s claim as used: 40 claimed, 19 of them A’s own unspent');
    assert.equal(first.state.remaining, 1000 - 21);
    assert.equal(first.state.limit, 1000);
    assert.equal(first.state.exceeded, false);
  });

  it('stays exact for buckets under 100 points, unleased buckets and buckets that block', async () => {
    for (const spec of [{ points: 60 }, { points: 1000, lease: false }, { points: 1000, blockSeconds: 30 }]) {
      const { limiters, counter } = replicas(1, spec);
      await admitted(limiters[0] as Limiter, 'x', 3);
      assert.equal(await counter('x'), 3, `${JSON.stringify(spec)}: one point per request in Redis`);
    }
  });

  it('a reconnection to Redis forfeits the leases claimed before it (a restarted Redis lost their count)', async () => {
    const own = new Redis(url as string, { maxRetriesPerRequest: 1 });
    await own.ping();
    const name = `b${bucket++}`;
    const a = createLimiterFactory({ redis: own, keyPrefix: prefix })({ name, points: 1000, windowSeconds: 60, lease: true }); // lease 20
    const counter = async () => Number((await shared.client.get(`${prefix}:rl:${name}:k`)) ?? 0);
    try {
      await admitted(a, 'k', 1);
      assert.equal(await counter(), 20);
      const ready = new Promise((resolve) => own.once('ready', resolve));
      own.disconnect(true); // drop the connection; ioredis reconnects
      await ready;
      await admitted(a, 'k', 1);
      assert.equal(await counter(), 40, 'a fresh claim on the new connection, not the old lease');
    } finally {
      own.disconnect();
    }
  });

  it('asks for no lease while Redis is unreachable: the in-memory fallback counts each request', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined);
    const a = createLimiterFactory({ redis: down, keyPrefix: prefix })({
      name: `b${bucket++}`,
      points: 1000,
      windowSeconds: 60,
      lease: true,
    });
    try {
      const first = await a.consume('k');
      assert.equal(first.allowed, true);
      assert.equal(first.state.consumed, 1, 'one point from the memory limiter, not a lease of 20');
      assert.equal((await a.consume('k')).state.consumed, 2);
    } finally {
      down.disconnect();
    }
  });

  it('reset and block drop the local lease, so the next request asks Redis', async () => {
    const { limiters, counter } = replicas(1, { points: 1000 }); // lease 20
    const [a] = limiters as [Limiter];
    await admitted(a, 'r', 2);
    await a.reset('r');
    assert.equal(await counter('r'), 0);
    await admitted(a, 'r', 1);
    assert.equal(await counter('r'), 20, 'a new claim, not the forgotten lease');
    await a.block('r', 30);
    assert.equal((await a.consume('r')).allowed, false, 'blocked in Redis: the old lease is not spent');
  });
});
