import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { GENEROUS_LIMITS, type InProcessTestApp, startTestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import type { ApiResponse } from '../../helpers/client.js';
import { deleteRedisKeys } from '../../helpers/redis-keys.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';
import { type PrivateRedis, startPrivateRedis } from '../../helpers/private-redis.js';
import { TEST_PASSWORD as PASSWORD } from '../../helpers/users.js';

/**
 * Rate limits and lockouts on Redis: one budget for every replica, and in-process limits that take
 * over at once while Redis is away. Each test writes under its own REDIS_KEY_PREFIX, so runs sharing
 * one Redis never see each other's keys; the keys are deleted afterwards.
 */

/** How long any single request may take while Redis is down (a hang would blow it; this is not a performance check). */
const ANSWER_DEADLINE_MS = 2000;

const uniquePrefix = () => `rl-test-${process.pid}-${randomBytes(4).toString('hex')}`;

// ---------------------------------------------------------------------------------------------------------------
// Services: the shared Redis (TEST_REDIS_URL), a private redis-server, the test database.

let sharedRedisCheck: Promise<string | undefined> | undefined;

/**
 * The shared Redis URL when it answers. Without one, the test is skipped — unless REQUIRE_SERVICES
 * is set, where a missing or silent Redis fails the test instead.
 */
async function sharedRedisOrSkip(t: TestContext): Promise<string | undefined> {
  sharedRedisCheck ??= (async () => {
    const url = testRedisUrl();
    if (!url) {
      if (REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');
      return undefined;
    }
    const probe = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return url;
    } catch (err) {
      if (REQUIRE_SERVICES)
        throw new Error(`REQUIRE_SERVICES=1 but Redis at TEST_REDIS_URL does not answer: ${(err as Error).message}`);
      return undefined;
    } finally {
      probe.disconnect();
    }
  })();
  const url = await sharedRedisCheck;
  if (!url) t.skip('no Redis: set TEST_REDIS_URL to run the shared-Redis tests');
  return url;
}

/** True when redis-server can be started; throws under REQUIRE_SERVICES when it cannot, else skips. */
function redisServerOrSkip(t: TestContext): boolean {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return true;
  if (REQUIRE_SERVICES)
    throw new Error(`REQUIRE_SERVICES=1 but redis-server is not on PATH: ${probe.error?.message ?? probe.stderr}`);
  t.skip('redis-server is not on PATH');
  return false;
}

let database: Promise<TestDatabase> | undefined;
/** One throwaway database for the file, created by the first test that needs it. */
const sharedDatabase = () => {
  database ??= createTestDatabase();
  return database;
};

after(async () => {
  if (database) await (await database).drop();
});

/** startTestApp's close() leaves the app's Redis client open; close that too, or the process never exits. */
async function closeApp(app: InProcessTestApp): Promise<void> {
  await app.close();
  await app.deps.redis?.close();
}

async function startApp(env: Record<string, string>): Promise<InProcessTestApp> {
  return startTestApp({ database: await sharedDatabase(), env: { ...GENEROUS_LIMITS, ...env } });
}

/** A plain client on the same Redis, for looking at the keys the service wrote. */
async function inspector(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}


// ---------------------------------------------------------------------------------------------------------------
// Waiting without guessing: poll a condition, or bound one request by a deadline.


/** The answer of `request`, or a failure if none came within `ms` (a hang, not a slow answer, is the bug). */
async function within<T>(ms: number, what: string, request: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function fallbackGauge(app: InProcessTestApp): Promise<number | undefined> {
  const text = await app.deps.metrics.registry.metrics();
  const match = /^rate_limit_redis_fallback (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

async function waitForGauge(app: InProcessTestApp, value: 0 | 1, timeoutMs = 5000): Promise<void> {
  await waitFor(`rate_limit_redis_fallback ${value}`, async () => (await fallbackGauge(app)) === value, timeoutMs);
}

// ---------------------------------------------------------------------------------------------------------------

function assertRateLimited(res: ApiResponse, limit: number) {
  assert.equal(res.status, 429);
  assert.equal(res.body.code, 'rate_limited');
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
    `Retry-After: ${res.headers.get('retry-after')}`,
  );
  assert.equal(res.headers.get('ratelimit-policy'), `"global";q=${limit};w=60`);
  assert.equal(res.headers.get('ratelimit'), `"global";r=0;t=${retryAfter}`);
}

/**
 * Two service instances sharing `url` under a key prefix of their own (deleted afterwards), returned
 * once both count in Redis (until its client is connected an instance counts in its own memory).
 */
async function twoInstances(t: TestContext, url: string, env: Record<string, string>): Promise<[InProcessTestApp, InProcessTestApp]> {
  const prefix = uniquePrefix();
  const shared = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, ...env };
  const a = await startApp(shared);
  t.after(() => closeApp(a));
  const b = await startApp(shared);
  t.after(() => closeApp(b));
  t.after(() => deleteRedisKeys(url, `${prefix}:`));
  await waitForGauge(a, 0);
  await waitForGauge(b, 0);
  return [a, b];
}

describe('rate limits on a shared Redis', () => {
  it('enforces one combined limit across two service instances sharing one Redis', async (t) => {
    const url = await sharedRedisOrSkip(t);
    if (!url) return;
    const [a, b] = await twoInstances(t, url, { RATE_LIMIT_GLOBAL_PER_MINUTE: '10' });

    const answers: ApiResponse[] = [];
    for (let i = 0; i < 12; i++) answers.push(await api(i % 2 === 0 ? a : b, 'GET', '/.well-known/jwks.json'));

    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429],
      'ten served in total, then refused on either instance',
    );
    // Each success reports the one shared budget counting down, whichever instance answered.
    answers.slice(0, 10).forEach((r, i) => {
      assert.equal(r.headers.get('ratelimit-policy'), '"global";q=10;w=60');
      assert.match(r.headers.get('ratelimit') ?? '', new RegExp(`^"global";r=${9 - i};t=\\d+$`));
    });
    assertRateLimited(answers[10] as ApiResponse, 10); // on A
    assertRateLimited(answers[11] as ApiResponse, 10); // on B
  });

  it('shares login lockouts between service instances', async (t) => {
    const url = await sharedRedisOrSkip(t);
    if (!url) return;
    const [a, b] = await twoInstances(t, url, { LOGIN_MAX_FAILURES: '3' });

    const email = `shared-lock-${randomBytes(4).toString('hex')}@example.com`;
    assert.equal((await api(a, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } })).status, 201);

    // Three failures, split A/B/A: neither instance alone has seen three.
    for (const app of [a, b, a]) {
      const failed = await api(app, 'POST', '/v1/auth/login', { json: { email, password: 'wrong password entirely 1' } });
      assert.equal(failed.status, 401);
      assert.equal(failed.body.code, 'invalid_credentials');
    }

    const locked = await api(b, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD } });
    assert.equal(locked.status, 429, 'locked on B although B saw one failure');
    assert.equal(locked.body.code, 'too_many_attempts');
    const retryAfter = Number(locked.headers.get('retry-after'));
    assert.equal(retryAfter, 1, 'the first lock lasts 1 s');
    assert.ok(locked.headers.get('ratelimit'));
    assert.ok(locked.headers.get('ratelimit-policy'));

    // Redis holds the lock's TTL, so real time has to pass; attempts while locked are not counted.
    await sleep(retryAfter * 1000);
    let ok: ApiResponse | undefined;
    await waitFor(
      'the lock to pass',
      async () => {
        ok = await api(a, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD } });
        return ok.status !== 429;
      },
      3000,
    );
    assert.equal(ok?.status, 200, 'logs in on A once the lock has passed');
    assert.equal(typeof ok?.body.access_token, 'string');
  });

  it('never puts the email address into the lockout keys', async (t) => {
    const url = await sharedRedisOrSkip(t);
    if (!url) return;
    const prefix = uniquePrefix();
    const app = await startApp({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix, LOGIN_MAX_FAILURES: '2' });
    t.after(() => closeApp(app));
    t.after(() => deleteRedisKeys(url, `${prefix}:`));
    await waitForGauge(app, 0);

    const tag = randomBytes(4).toString('hex');
    const local = `keyprobe-${tag}`;
    const domain = `mail-${tag}.example.org`;
    const email = `${local}@${domain}`;
    const unknownLocal = `nobody-${tag}`;
    assert.equal((await api(app, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
    // Wrong password twice (starts a lock), then an address with no account.
    for (let i = 0; i < 2; i++) {
      const res = await api(app, 'POST', '/v1/auth/login', { json: { email, password: 'wrong password entirely 1' } });
      assert.equal(res.status, 401);
    }
    const unknown = await api(app, 'POST', '/v1/auth/login', {
      json: { email: `${unknownLocal}@${domain}`, password: 'wrong password entirely 1' },
    });
    assert.equal(unknown.status, 401);

    const client = await inspector(url);
    t.after(() => client.disconnect());
    const keys = await keysUnder(client, prefix);
    // Not vacuous: the failure counter, the per-account counter and the lock were all written.
    for (const family of ['login-failures', 'login-account', 'login-lockout']) {
      assert.ok(
        keys.some((k) => k.startsWith(`${prefix}:rl:${family}:`)),
        `a ${family} key exists: ${keys.join(', ')}`,
      );
    }
    for (const key of keys) {
      const lower = key.toLowerCase();
      for (const part of [local, domain, unknownLocal, tag, '@']) {
        assert.ok(!lower.includes(part.toLowerCase()), `key ${key} contains ${part}`);
      }
    }
  });
});

describe('rate limits when Redis goes away', () => {
  let redis: PrivateRedis | undefined;
  let app: InProcessTestApp | undefined;
  after(async () => {
    // Whatever happened in the test: no redis-server outlives this file.
    await redis?.dispose();
    if (app) await closeApp(app);
  });

  it('keeps serving with in-process limits while Redis is stopped, reports the fallback, and shares limits again after a restart', async (t) => {
    if (!redisServerOrSkip(t)) return;
    redis = await startPrivateRedis();
    const prefix = uniquePrefix();
    const limit = 20;
    app = await startApp({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_GLOBAL_PER_MINUTE: String(limit) });
    const t1 = app;
    await waitForGauge(t1, 0);

    const email = `fallback-${randomBytes(4).toString('hex')}@example.com`;
    assert.equal((await api(t1, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } })).status, 201);
    {
      const client = await inspector(redis.url);
      const keys = await keysUnder(client, prefix);
      client.disconnect();
      assert.ok(
        keys.some((k) => k.startsWith(`${prefix}:rl:global:`)),
        `counted in Redis before it stops: ${keys.join(', ')}`,
      );
    }

    await redis.kill();

    // Straight away, without waiting for the client to notice: every request still gets its normal answer.
    const keys = await within(ANSWER_DEADLINE_MS, 'GET /.well-known/jwks.json with Redis down', api(t1, 'GET', '/.well-known/jwks.json'));
    assert.equal(keys.status, 200);
    const wrong = await within(
      ANSWER_DEADLINE_MS,
      'failed login with Redis down',
      api(t1, 'POST', '/v1/auth/login', { json: { email, password: 'wrong password entirely 1' } }),
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'invalid_credentials');
    const right = await within(
      ANSWER_DEADLINE_MS,
      'login with Redis down',
      api(t1, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD } }),
    );
    assert.equal(right.status, 200);

    // The limit still holds, counted in this process from the moment Redis went away.
    let served = 3;
    let refused: ApiResponse | undefined;
    while (served <= limit) {
      const res = await within(ANSWER_DEADLINE_MS, 'GET /.well-known/jwks.json with Redis down', api(t1, 'GET', '/.well-known/jwks.json'));
      if (res.status === 429) {
        refused = res;
        break;
      }
      assert.equal(res.status, 200);
      served += 1;
    }
    assert.equal(served, limit, `exactly ${limit} requests served in memory before the 429`);
    assert.ok(refused, 'the in-process limit refuses once exhausted');
    assertRateLimited(refused, limit);

    await waitForGauge(t1, 1, 1000);
    assert.ok(
      t1.logLines.some((l) => l.level === 'warn' && /redis unavailable/i.test(String(l.msg))),
      'a warning says Redis is unavailable',
    );

    // Back on the same port, empty: the client reconnects by itself and counting moves back to Redis.
    await redis.start();
    await waitForGauge(t1, 0, 10_000);
    assert.ok(t1.logLines.some((l) => l.level === 'info' && /redis available/i.test(String(l.msg))));
    const again = await api(t1, 'GET', '/.well-known/jwks.json');
    assert.equal(again.status, 200, 'the in-memory bucket is spent, so a 200 means Redis answers the check again');
    const client = await inspector(redis.url);
    try {
      const globalKeys = (await keysUnder(client, prefix)).filter((k) => k.startsWith(`${prefix}:rl:global:`));
      assert.equal(globalKeys.length, 1, `the global bucket is in Redis again: ${globalKeys.join(', ')}`);
      assert.equal(await client.get(globalKeys[0] as string), '1', 'one request counted in the restarted Redis');
    } finally {
      client.disconnect();
    }
  });
});
