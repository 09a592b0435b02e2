import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createAbuseBreaker } from '../../../service/src/platform/abuse-breaker.js';
import { createLogger } from '../../../service/src/platform/logger.js';
import { createLimiterFactory } from '../../../service/src/platform/rate-limit.js';
import { redisUnderPrefix } from '../../helpers/prefixed-redis.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';

/**
 * The anomaly breaker trusts a "not blocked" answer for 1 s per IP (one Redis read less on almost
 * every request), so two replicas sharing Redis must still agree within that bound — the same
 * bound as session revocation — and a replica that refuses an IP itself must not wait for it.
 */
const url = testRedisUrl();
if (!url && REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');

describe('abuse breaker across replicas sharing Redis', { skip: url ? false : 'no TEST_REDIS_URL' }, () => {
  const shared = redisUnderPrefix(url as string, 'abuse-test');
  const { prefix } = shared;
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  let clock = 0;
  const replica = () =>
    createAbuseBreaker({
      factory: createLimiterFactory({ redis: shared.client, keyPrefix: prefix }),
      threshold: 2,
      blockSeconds: 60,
      logger,
      clock: { now: () => new Date(clock) },
    });

  it('a block started on another replica is seen once the 1 s "not blocked" answer expires', async () => {
    const [a, b] = [replica(), replica()];
    const ip = '192.0.2.10';
    assert.equal(await b.blocked(ip), undefined, 'B has seen the IP unblocked');
    for (let i = 0; i < 3; i++) await a.recordRejection(ip);
    assert.ok(await a.blocked(ip), 'A, which refused the IP, blocks it at once');
    clock += 999;
    assert.equal(await b.blocked(ip), undefined, 'B may trust its answer for up to 1 s');
    clock += 1;
    const block = await b.blocked(ip);
    assert.ok(block, 'B sees the block once its answer expired');
    assert.equal(block.windowSeconds, 60);
  });

  it('a replica that refuses an IP asks Redis again at once', async () => {
    const a = replica();
    const ip = '192.0.2.11';
    assert.equal(await a.blocked(ip), undefined);
    for (let i = 0; i < 3; i++) await a.recordRejection(ip);
    assert.ok(await a.blocked(ip), 'blocked without waiting for the cached answer to expire');
  });
});
