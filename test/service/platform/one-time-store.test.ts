import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createOneTimeStore, type OneTimeStore } from '../../../service/src/platform/one-time-store.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';

const onRedis = testRedisUrl() !== undefined || REQUIRE_SERVICES;

function behaves(name: string, make: () => { store: OneTimeStore; advance(ms: number): void; ttlChecked: boolean }) {
  describe(`one-time store (${name})`, () => {
    it('a value is taken once: the second take finds nothing', async () => {
      const { store } = make();
      await store.put('k1', 'v', 60);
      assert.equal(await store.peek('k1'), 'v');
      assert.equal(await store.take('k1'), 'v');
      assert.equal(await store.take('k1'), undefined);
    });

    it('two concurrent takes: exactly one gets the value', async () => {
      const { store } = make();
      await store.put('k2', 'v', 60);
      const results = await Promise.all([store.take('k2'), store.take('k2'), store.take('k2')]);
      assert.deepEqual(results.filter((r) => r !== undefined), ['v']);
    });

    it('replace keeps the entry alive only while it exists', async () => {
      const { store } = make();
      assert.equal(await store.replace('k3', 'x'), false);
      await store.put('k3', 'a', 60);
      assert.equal(await store.replace('k3', 'b'), true);
      assert.equal(await store.take('k3'), 'b');
    });

    // Memory only: Redis keeps its own clock (its expiry is the EX checked below).
    if (!make().ttlChecked) return;
    it('an expired value cannot be taken', async () => {
      const { store, advance } = make();
      await store.put('k4', 'v', 5);
      advance(4_999);
      assert.equal(await store.peek('k4'), 'v');
      advance(1);
      assert.equal(await store.take('k4'), undefined);
    });
  });
}

behaves('memory', () => {
  let now = 1_000_000;
  return { store: createOneTimeStore({ now: () => now }), advance: (ms) => { now += ms; }, ttlChecked: true };
});

if (onRedis) {
  const redis = new Redis(testRedisUrl() as string, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const prefix = `test:${randomBytes(4).toString('hex')}:`;
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  behaves('Redis', () => ({ store: createOneTimeStore({ redis, keyPrefix: prefix, now: () => Date.now() }), advance: () => undefined, ttlChecked: false }));
  it('on Redis the value carries its EX', async () => {
    const store = createOneTimeStore({ redis, keyPrefix: prefix, now: () => Date.now() });
    await store.put('ttl', 'v', 300);
    const ttl = await redis.ttl(`${prefix}once:ttl`);
    assert.ok(ttl > 290 && ttl <= 300, String(ttl));
  });
}
