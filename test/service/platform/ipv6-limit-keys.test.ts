import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../helpers/app.js';
import { type ApiResponse, api } from '../../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';
import { redisReady } from '../../helpers/redis-ready.js';
import { redisKeyPrefix } from '../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('ipv6-test');

// Issue 19: rotating the interface id inside one /64 must not buy a fresh bucket anywhere.
// The app trusts the loopback proxy, so X-Forwarded-For presents the client (as behind a load balancer).

const from = (ip: string) => ({ 'x-forwarded-for': ip });
/** The n-th address of 2001:db8:1:<net>::/64, in varied text forms (the suffix rotates, the /64 stays). */
function inNet(net: string, n: number): string {
  const forms = [`2001:db8:1:${net}::${n.toString(16)}`, `2001:DB8:1:${net}:${n.toString(16)}::1`, `2001:0db8:0001:${net}:0:0:${n.toString(16)}:abcd`];
  return forms[n % forms.length] as string;
}

function assertLimited(res: ApiResponse, policy: string) {
  assert.equal(res.status, 429, res.text);
  assert.match(res.headers.get('ratelimit-policy') ?? '', new RegExp(`^"${policy}";`), res.headers.get('ratelimit-policy') ?? '');
}

const modes: { name: string; env: () => Record<string, string> }[] = [{ name: 'in-process', env: () => ({}) }];
if (testRedisUrl() || REQUIRE_SERVICES) {
  modes.push({
    name: 'Redis',
    env: () => {
      const url = testRedisUrl();
      if (!url) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');
      return { REDIS_URL: url, REDIS_KEY_PREFIX: `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}` };
    },
  });
}

for (const mode of modes) {
  describe(`IPv6 clients are limited by their /64 (${mode.name})`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase();
    });
    after(async () => {
      await database.drop();
    });

    async function app(t: TestContext, env: Record<string, string>): Promise<InProcessTestApp> {
      const started = await startTestApp({ database, env: { ...mode.env(), TRUSTED_PROXIES: '127.0.0.0/8', RATE_LIMIT_AUTH_PER_MINUTE: '1000', ...env } });
      t.after(() => started.close());
      if (started.deps.redis) {
        // Wait until the client is connected, so the test measures Redis and not the fallback.
        await redisReady(started.deps.redis);
        assert.ok(started.deps.redis.available(), 'redis connected');
      }
      return started;
    }
    const login = (t: InProcessTestApp, ip: string, i: number) =>
      api(t, 'POST', '/v1/auth/login', { json: { email: `v6-${i}@example.com`, password: 'wrong password' }, headers: from(ip) });

    it('100 addresses in one /64 share one login limit, and an address in another /64 keeps its own', async (tc) => {
      const t = await app(tc, { RATE_LIMIT_LOGIN_PER_MINUTE: '5' });
      const statuses: number[] = [];
      for (let i = 1; i <= 100; i++) {
        const res = await login(t, inNet('2', i), i);
        statuses.push(res.status);
        if (i > 5) assertLimited(res, 'login');
      }
      assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the first 5 across the /64 are judged');
      assert.equal(statuses.filter((s) => s === 429).length, 95, 'the other 95 are refused, whatever their suffix');
      assert.equal((await login(t, '2001:db8:1:3::1', 101)).status, 401, 'the next /64 is another client');
      assertLimited(await login(t, '2001:db8:1:2:ffff:ffff:ffff:fffe%eth0', 102), 'login');
    });

    it('the (email, IP) login lockout holds for the whole /64, not for another /64', async (tc) => {
      const t = await app(tc, { LOGIN_MAX_FAILURES: '3', RATE_LIMIT_LOGIN_PER_MINUTE: '100' });
      const email = `v6-lockout-${mode.name.toLowerCase()}@example.com`;
      const attempt = (ip: string) => api(t, 'POST', '/v1/auth/login', { json: { email, password: 'wrong password' }, headers: from(ip) });
      for (let i = 1; i <= 3; i++) assert.equal((await attempt(inNet('a', i))).status, 401);
      const locked = await attempt(inNet('a', 50));
      assert.equal(locked.status, 429, locked.text);
      assert.equal(locked.body.code, 'too_many_attempts', 'a fresh suffix in the /64 is still locked out');
      assert.equal((await attempt('2001:db8:1:b::1')).status, 401, 'the next /64 is another (email, IP) pair');
    });

    it('the global per-IP limit counts a whole /64 as one client', async (tc) => {
      const t = await app(tc, { RATE_LIMIT_GLOBAL_PER_MINUTE: '3' });
      for (let i = 1; i <= 3; i++) assert.equal((await api(t, 'GET', '/v1/me', { headers: from(inNet('4', i)) })).status, 401);
      assertLimited(await api(t, 'GET', '/v1/me', { headers: from(inNet('4', 77)) }), 'global');
      assert.equal((await api(t, 'GET', '/v1/me', { headers: from(inNet('5', 1)) })).status, 401, 'another /64');
    });

    it('IPv4-mapped IPv6 and the plain IPv4 address share one bucket', async (tc) => {
      const t = await app(tc, { RATE_LIMIT_LOGIN_PER_MINUTE: '3' });
      assert.equal((await login(t, '10.0.0.1', 1)).status, 401);
      assert.equal((await login(t, '::ffff:10.0.0.1', 2)).status, 401);
      assert.equal((await login(t, '::FFFF:a00:1', 3)).status, 401);
      assertLimited(await login(t, '10.0.0.1', 4), 'login');
      assertLimited(await login(t, '::ffff:10.0.0.1', 5), 'login');
      assert.equal((await login(t, '10.0.0.2', 6)).status, 401, 'the next IPv4 address is another client');
    });

    it('the abuse breaker blocks the whole /64 on every route, spares the next /64, and logs the network once', async (tc) => {
      const t = await app(tc, { RATE_LIMIT_LOGIN_PER_MINUTE: '1', ABUSE_BLOCK_AFTER_REJECTIONS: '3', ABUSE_BLOCK_SECONDS: '600' });
      assert.equal((await login(t, inNet('6', 1), 1)).status, 401);
      for (let i = 2; i <= 5; i++) assertLimited(await login(t, inNet('6', i), i), 'login');
      const blocked = await api(t, 'GET', '/v1/auth/sessions', { headers: from('2001:db8:1:6:dead:beef:0:1') });
      assertLimited(blocked, 'abuse');
      assertLimited(await api(t, 'GET', '/v1/me', { headers: from(inNet('6', 99)) }), 'abuse');
      assert.notEqual((await api(t, 'GET', '/v1/me', { headers: from(inNet('7', 1)) })).status, 429, 'the next /64 is not blocked');
      const lines = t.logLines.filter((l) => String(l.msg).startsWith('abuse breaker'));
      assert.equal(lines.length, 1, 'logged once');
      assert.equal(lines[0]?.client_key, '2001:db8:1:6::/64');
    });

    it('RATE_LIMIT_IPV6_PREFIX widens the shared network (/48: two /64s are one client)', async (tc) => {
      const t = await app(tc, { RATE_LIMIT_LOGIN_PER_MINUTE: '2', RATE_LIMIT_IPV6_PREFIX: '48' });
      assert.equal((await login(t, '2001:db8:9:1::1', 1)).status, 401);
      assert.equal((await login(t, '2001:db8:9:2::1', 2)).status, 401);
      assertLimited(await login(t, '2001:db8:9:ffff::1', 3), 'login');
      assert.equal((await login(t, '2001:db8:a:1::1', 4)).status, 401, 'the next /48');
    });

    it('logs and audits the full client address, not its limit key', async (tc) => {
      const t = await app(tc, {});
      await api(t, 'GET', '/v1/me', { headers: { ...from('2001:db8:1:8::abcd'), 'x-request-id': 'v6-logged-ip' } });
      assert.equal(t.logLines.find((l) => l.client_request_id === 'v6-logged-ip' && l.msg === 'request')?.ip, '2001:db8:1:8::abcd');
    });
  });
}
