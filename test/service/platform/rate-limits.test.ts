import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import type { ApiResponse } from '../../helpers/client.js';
import { REQUIRE_SERVICES, testRedisUrl } from '../../helpers/services.js';
import { TEST_PASSWORD as PASSWORD } from '../../helpers/users.js';
import { redisReady } from '../../helpers/redis-ready.js';
import { redisKeyPrefix } from '../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('rl-test');

function assertLimited(res: ApiResponse, policy: string, code = 'rate_limited') {
  assert.equal(res.status, 429, res.text);
  assert.equal(res.body.code, code);
  assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  assert.match(res.headers.get('ratelimit-policy') ?? '', new RegExp(`^"${policy}";q=\\d+;w=\\d+$`));
  assert.match(res.headers.get('ratelimit') ?? '', new RegExp(`^"${policy}";r=0;t=\\d+$`));
}

/** Runs `n` requests; all must pass; returns the last response. */
async function spend(n: number, send: (i: number) => Promise<ApiResponse>): Promise<ApiResponse> {
  let last: ApiResponse | undefined;
  for (let i = 0; i < n; i++) {
    last = await send(i);
    assert.notEqual(last.status, 429, `request ${i + 1} of ${n} was refused early`);
  }
  return last as ApiResponse;
}

const from = (ip: string) => ({ 'x-forwarded-for': ip });

// The same behaviour, in process and on the shared Redis (CI has Redis and REQUIRE_SERVICES=1).
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
  describe(`rate limits (${mode.name})`, () => {
    let database: TestDatabase;
    const apps: InProcessTestApp[] = [];
    async function app(env: Record<string, string>): Promise<InProcessTestApp> {
      const t = await startTestApp({ database, env: { ...mode.env(), ...env } });
      apps.push(t);
      if (t.deps.redis) {
        // Wait until the client is connected, so the test measures Redis and not the fallback.
        await redisReady(t.deps.redis);
        assert.ok(t.deps.redis.available(), 'redis connected');
      }
      return t;
    }
    before(async () => {
      database = await createTestDatabase();
    });
    after(async () => {
      for (const t of apps) await t.close();
      await database.drop();
    });

    it('the global per-IP burst breaker trips at its count on any route, 404s included', async () => {
      const t = await app({ RATE_LIMIT_GLOBAL_PER_MINUTE: '5' });
      await spend(3, () => api(t, 'GET', '/.well-known/jwks.json'));
      await spend(2, () => api(t, 'GET', '/no-such-route'));
      assertLimited(await api(t, 'GET', '/.well-known/jwks.json'), 'global');
      const metrics = await t.deps.metrics.registry.metrics();
      assert.match(metrics, /rate_limit_dropped_total\{limiter="global",route="\/\.well-known\/jwks\.json"\} 1/);
    });

    it('successful answers carry the RateLimit headers of the bucket closest to its limit', async () => {
      const t = await app({ RATE_LIMIT_GLOBAL_PER_MINUTE: '100', RATE_LIMIT_AUTH_PER_MINUTE: '50', RATE_LIMIT_LOGIN_PER_MINUTE: '4' });
      const keys = await api(t, 'GET', '/.well-known/jwks.json');
      assert.equal(keys.headers.get('ratelimit-policy'), '"global";q=100;w=60');
      assert.match(keys.headers.get('ratelimit') ?? '', /^"global";r=99;t=\d+$/);
      const login = await api(t, 'POST', '/v1/auth/login', { json: { email: 'a@example.com', password: 'x' } });
      assert.equal(login.status, 401);
      assert.equal(login.headers.get('ratelimit-policy'), '"login";q=4;w=60');
      assert.match(login.headers.get('ratelimit') ?? '', /^"login";r=3;t=\d+$/);
    });

    it('login has its own, stricter bucket: exhausting it leaves refresh and signup working', async () => {
      const t = await app({ RATE_LIMIT_LOGIN_PER_MINUTE: '3', RATE_LIMIT_REFRESH_PER_MINUTE: '5', RATE_LIMIT_SIGNUP_PER_HOUR: '2' });
      await spend(3, (i) => api(t, 'POST', '/v1/auth/login', { json: { email: `nobody${i}@example.com`, password: 'x' } }));
      assertLimited(await api(t, 'POST', '/v1/auth/login', { json: { email: 'n@example.com', password: 'x' } }), 'login');
      await spend(5, () => api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: 'A'.repeat(43) } }));
      assertLimited(await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: 'A'.repeat(43) } }), 'refresh');
      await spend(2, () => api(t, 'POST', '/v1/auth/signup', { json: { email: 'bad', password: PASSWORD } }));
      const signup = await api(t, 'POST', '/v1/auth/signup', { json: { email: 'bad', password: PASSWORD } });
      assertLimited(signup, 'signup');
      assert.equal(signup.headers.get('ratelimit-policy'), '"signup";q=2;w=3600');
    });

    it('the /v1/auth/* per-IP bucket covers the other auth routes', async () => {
      const t = await app({ RATE_LIMIT_AUTH_PER_MINUTE: '4' });
      await spend(4, () => api(t, 'POST', '/v1/auth/logout', { json: { refresh_token: 'B'.repeat(43) } }));
      assertLimited(await api(t, 'POST', '/v1/auth/logout', { json: { refresh_token: 'B'.repeat(43) } }), 'auth');
      assertLimited(await api(t, 'GET', '/v1/auth/sessions'), 'auth');
    });

    it('the per-user bucket limits an authenticated user wherever they come from', async () => {
      const t = await app({ RATE_LIMIT_USER_PER_MINUTE: '3', TRUSTED_PROXIES: '127.0.0.0/8' });
      const s = await api(t, 'POST', '/v1/auth/signup', { json: { email: 'per-user@example.com', password: PASSWORD } });
      await spend(3, (i) => api(t, 'GET', '/v1/me', { token: s.body.access_token, headers: from(`198.51.100.${i + 1}`) }));
      assertLimited(await api(t, 'GET', '/v1/me', { token: s.body.access_token, headers: from('198.51.100.99') }), 'user');
    });

    it('a spoofed X-Forwarded-For does not evade a limit from an untrusted peer, and is honoured from a trusted one', async () => {
      const untrusted = await app({ RATE_LIMIT_GLOBAL_PER_MINUTE: '3' });
      await spend(3, (i) => api(untrusted, 'GET', '/.well-known/jwks.json', { headers: from(`203.0.113.${i}`) }));
      assertLimited(await api(untrusted, 'GET', '/.well-known/jwks.json', { headers: from('203.0.113.200') }), 'global');

      const trusted = await app({ RATE_LIMIT_GLOBAL_PER_MINUTE: '3', TRUSTED_PROXIES: '127.0.0.0/8' });
      await spend(3, () => api(trusted, 'GET', '/.well-known/jwks.json', { headers: from('203.0.113.10') }));
      assertLimited(await api(trusted, 'GET', '/.well-known/jwks.json', { headers: from('203.0.113.10') }), 'global');
      const other = await api(trusted, 'GET', '/.well-known/jwks.json', { headers: from('203.0.113.11') });
      assert.equal(other.status, 200, 'another client behind the proxy has its own bucket');
    });

    it('the anomaly breaker blocks an IP that keeps hammering, logs it once, and spares others', async () => {
      const t = await app({ RATE_LIMIT_GLOBAL_PER_MINUTE: '2', ABUSE_BLOCK_AFTER_REJECTIONS: '3', ABUSE_BLOCK_SECONDS: '600', TRUSTED_PROXIES: '127.0.0.0/8' });
      await spend(2, () => api(t, 'GET', '/.well-known/jwks.json', { headers: from('192.0.2.66') }));
      for (let i = 0; i < 4; i++) assertLimited(await api(t, 'GET', '/.well-known/jwks.json', { headers: from('192.0.2.66') }), 'global');
      const blocked = await api(t, 'GET', '/.well-known/jwks.json', { headers: from('192.0.2.66') });
      assertLimited(blocked, 'abuse');
      assert.match(blocked.headers.get('ratelimit-policy') ?? '', /^"abuse";q=3;w=600$/);
      assert.ok(Number(blocked.headers.get('retry-after')) > 60, 'the block outlasts the rate window');
      await api(t, 'GET', '/.well-known/jwks.json', { headers: from('192.0.2.66') });
      assert.equal(t.logLines.filter((l) => String(l.msg).startsWith('abuse breaker')).length, 1, 'logged once');
      assert.equal((await api(t, 'GET', '/.well-known/jwks.json', { headers: from('192.0.2.67') })).status, 200);
      assert.match(await t.deps.metrics.registry.metrics(), /abuse_blocks_total 1/);
    });
  });

  describe(`login lockout (${mode.name})`, () => {
    let database: TestDatabase;
    let t: InProcessTestApp;
    before(async () => {
      database = await createTestDatabase();
      t = await startTestApp({ database, env: { ...mode.env(), LOGIN_MAX_FAILURES: '5', TRUSTED_PROXIES: '127.0.0.0/8' } });
      await redisReady(t.deps.redis);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    const login = (email: string, password: string, ip: string) =>
      api(t, 'POST', '/v1/auth/login', { json: { email, password }, headers: from(ip) });

    it('locks (email, IP) after 5 failures — even the right password gets 429 — and a success after the wait resets', async () => {
      const email = `lock-${mode.name.toLowerCase()}@example.com`;
      await api(t, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } });
      for (let i = 0; i < 5; i++) assert.equal((await login(email, `wrong ${i}`, '192.0.2.10')).status, 401);
      const locked = await login(email, PASSWORD, '192.0.2.10');
      assertLimited(locked, 'login-lockout', 'too_many_attempts');
      assert.equal(locked.headers.get('retry-after'), '1');

      assert.equal((await login(email, PASSWORD, '192.0.2.11')).status, 200, 'another IP is not locked out');

      await sleep(1100); // the first lock lasts 1 s (held by the limiter store, so real time passes)
      assert.equal((await login(email, PASSWORD, '192.0.2.10')).status, 200, 'success after the wait');
      assert.equal((await login(email, 'wrong again', '192.0.2.10')).status, 401, 'the count started over');
      assert.equal((await login(email, PASSWORD, '192.0.2.10')).status, 200);

      await t.deps.audit.log.flush();
      const types = (await t.deps.db.knex('audit_events').where({ ip: '192.0.2.10' }).select('type')).map((r: { type: string }) => r.type);
      assert.ok(types.includes('login_locked_out'), 'the lockout start is audited');
    });

    it('doubles the wait with each further failure', async () => {
      const email = `double-${mode.name.toLowerCase()}@example.com`;
      for (let i = 0; i < 5; i++) await login(email, 'wrong', '192.0.2.20');
      assert.equal((await login(email, 'wrong', '192.0.2.20')).headers.get('retry-after'), '1');
      await sleep(1100);
      assert.equal((await login(email, 'wrong', '192.0.2.20')).status, 401, 'the 6th failure is judged, and locks for 2 s');
      const second = await login(email, 'wrong', '192.0.2.20');
      assertLimited(second, 'login-lockout', 'too_many_attempts');
      assert.equal(second.headers.get('retry-after'), '2');
    });

    it('answers an unknown account exactly like an existing one', async () => {
      for (let i = 0; i < 5; i++) await login('ghost@example.com', 'wrong', '192.0.2.30');
      const ghost = await login('ghost@example.com', 'wrong', '192.0.2.30');
      assertLimited(ghost, 'login-lockout', 'too_many_attempts');
      assert.equal(ghost.body.detail, 'Too many failed login attempts; wait before trying again.');
    });
  });

  describe(`per-account failure cap (${mode.name})`, () => {
    let database: TestDatabase;
    let t: InProcessTestApp;
    before(async () => {
      database = await createTestDatabase();
      t = await startTestApp({
        database,
        env: { ...mode.env(), LOGIN_MAX_FAILURES: '100', LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: '3', TRUSTED_PROXIES: '127.0.0.0/8' },
      });
      await redisReady(t.deps.redis);
    });
    after(async () => {
      await t.close();
      await database.drop();
    });

    it('slows distributed guessing: failures from many IPs lock the account for the hour', async () => {
      const email = `spread-${mode.name.toLowerCase()}@example.com`;
      await api(t, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } });
      for (let i = 0; i < 3; i++) {
        const res = await api(t, 'POST', '/v1/auth/login', { json: { email, password: 'wrong' }, headers: from(`198.51.100.${i}`) });
        assert.equal(res.status, 401);
      }
      const capped = await api(t, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD }, headers: from('198.51.100.50') });
      assert.equal(capped.status, 429);
      assert.equal(capped.body.code, 'too_many_attempts');
    });
  });
}
