import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { redisKeyPrefix } from '../../../helpers/redis-keys.js';
import { redisWritesOf } from '../../../helpers/redis-writes.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../../helpers/services.js';
import { signedUpUser } from '../../../helpers/users.js';

/**
 * What one login asks Redis, counted as socket writes of the service's own client (issue 24: every
 * write is a syscall on both sides and a wake-up of Redis, CPU a login flood takes from the hashes).
 * A login without a device token reads its lockout in the tick its per-IP buckets are spent: one
 * write for both. One with a device token reads its counters once the account lookup has said whose
 * device it is, valid token or not: one write more, the same for both.
 */
const redisUrl = testRedisUrl();
if (!redisUrl && REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('login-writes');

/** Cheap hashes (refused in production, fine here). */
const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

async function app(t: TestContext, env: Record<string, string> = {}): Promise<InProcessTestApp> {
  const prefix = `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}`;
  const started = await startTestApp({ env: { ...FAST, REDIS_URL: redisUrl as string, REDIS_KEY_PREFIX: prefix, ...env } });
  t.after(() => started.close());
  await redisReady(started.deps.redis);
  return started;
}

/** The login's answer and the socket writes the service's Redis client made while it ran. */
async function loginWrites(
  target: InProcessTestApp,
  json: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown>; writes: number }> {
  const client = target.deps.redis?.client;
  assert.ok(client, 'the app runs with Redis');
  const { result: res, writes } = await redisWritesOf(client, () => api(target, 'POST', '/v1/auth/login', { json }));
  return { status: res.status, body: res.body as Record<string, unknown>, writes };
}

describe('the Redis writes of a login', { skip: !redisUrl && 'needs Redis (TEST_REDIS_URL)' }, () => {
  it('without a device token: the lockout is read in the same write that spends the per-IP buckets', async (t) => {
    const target = await app(t);
    const user = await signedUpUser(target);
    // The first request of an address claims its share of the leased per-IP request bucket; later ones spend it locally.
    assert.equal((await loginWrites(target, { email: user.email, password: user.password })).status, 200);
    const login = await loginWrites(target, { email: user.email, password: user.password });
    assert.equal(login.status, 200);
    assert.equal(login.writes, 1, 'the auth and login buckets and the lockout’s counters in one write');
  });

  it('a wrong password reads in that one write too, then counts the failure', async (t) => {
    const target = await app(t);
    const user = await signedUpUser(target);
    await loginWrites(target, { email: user.email, password: user.password });
    const wrong = await loginWrites(target, { email: user.email, password: `${user.password}x` });
    assert.equal(wrong.status, 401);
    // The read with the buckets; the failure's counters (pair and account) leave together after the verify.
    assert.equal(wrong.writes, 2);
    const right = await loginWrites(target, { email: user.email, password: user.password });
    assert.equal(right.status, 200);
    assert.equal(right.writes, 2, 'the read with the buckets, then the success clears the failure counted');
  });

  it('with a device token, valid or not, the counters are read after the account lookup: one write more, the same for both', async (t) => {
    const target = await app(t);
    const user = await signedUpUser(target);
    const first = await loginWrites(target, { email: user.email, password: user.password });
    const device_token = first.body.device_token as string;
    const known = await loginWrites(target, { email: user.email, password: user.password, device_token });
    assert.equal(known.status, 200);
    assert.equal(known.body.device_token, device_token);
    assert.equal(known.writes, 2);
    const forged = `${device_token.slice(0, -4)}${device_token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const unknown = await loginWrites(target, { email: user.email, password: user.password, device_token: forged });
    assert.equal(unknown.status, 200);
    assert.notEqual(unknown.body.device_token, forged, 'not a device of the account: a new one');
    assert.equal(unknown.writes, known.writes);
  });

  it('over the login bucket: 429 before anything else is read, and a malformed body spends the buckets before its 400', async (t) => {
    const target = await app(t, { RATE_LIMIT_LOGIN_PER_MINUTE: '2' });
    const malformed = await loginWrites(target, { email: 'someone@example.com' });
    assert.equal(malformed.status, 400);
    assert.ok(malformed.writes >= 1, 'the buckets were spent before the 400');
    const user = await signedUpUser(target);
    assert.equal((await loginWrites(target, { email: user.email, password: user.password })).status, 200);
    const refused = await loginWrites(target, { email: user.email, password: user.password });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'rate_limited');
    // The early read went with the buckets; the one write after is the refusal told to the abuse breaker.
    assert.equal(refused.writes, 2);
  });
});
