import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import {
  type Answer,
  CHILD_ENV,
  call,
  errorLines,
  newUser,
  PASSWORD,
  runWorkers,
  scrape,
  serviceEnv,
  Tally,
  waitFor,
} from './helpers/fault-traffic.js';
import { type PrivateRedis, privateRedisAvailable, startPrivateRedis } from '../helpers/private-redis.js';

/**
 * Redis goes away under traffic — killed outright, or frozen with its connections open — and the
 * service keeps serving: limits and lockouts fall back to in-process memory at once (redis.ts,
 * rate-limit.ts), the fallback gauge says so, not one request fails, and once Redis is back the
 * counting moves back to it. (test/service/platform/rate-limit-redis.test.ts pins the mechanics on
 * an in-process app between requests; this drives the real process under concurrent load.)
 */

/** Longest a request may take while Redis is away: a few 200 ms command timeouts before the heartbeat drops the link. */
const HANG_MS = 3000;
const WORKERS = 4;
const FALLBACK = 'rate_limit_redis_fallback';

interface Client {
  token: string;
  email: string;
  conversationId: string;
}

async function mixedRequest(baseUrl: string, client: Client, n: number): Promise<{ what: string; answer: Answer }> {
  const opts = { token: client.token, timeoutMs: HANG_MS };
  switch (n % 5) {
    case 0:
      return { what: 'GET /v1/conversations', answer: await call(baseUrl, 'GET', '/v1/conversations?limit=5', opts) };
    case 1:
      return {
        what: 'POST messages',
        answer: await call(baseUrl, 'POST', `/v1/conversations/${client.conversationId}/messages`, { ...opts, json: { content: `m${n}` } }),
      };
    case 2:
      return { what: 'GET /healthz', answer: await call(baseUrl, 'GET', '/healthz', { timeoutMs: HANG_MS }) };
    case 3:
      return { what: 'POST /v1/conversations', answer: await call(baseUrl, 'POST', '/v1/conversations', { ...opts, json: {} }) };
    default:
      return {
        what: 'POST /v1/auth/login',
        answer: await call(baseUrl, 'POST', '/v1/auth/login', { json: { email: client.email, password: PASSWORD }, timeoutMs: HANG_MS }),
      };
  }
}

function startTraffic(baseUrl: string, clients: Client[], tally: () => Tally) {
  const stop = new AbortController();
  let n = 0;
  const done = runWorkers(WORKERS, stop.signal, async (worker) => {
    const phase = tally();
    const { what, answer } = await mixedRequest(baseUrl, clients[worker] as Client, n++);
    // Limits are out of reach here: with Redis up or down, every request must simply be served.
    phase.add(what, answer, answer.status >= 200 && answer.status < 300 ? 'served' : 'unexpected');
    await sleep(10);
  });
  return {
    async stop() {
      stop.abort();
      await done;
    },
  };
}

async function keysUnder(url: string, pattern: string): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.keys(pattern);
  } finally {
    client.disconnect();
  }
}

describe('Redis unavailable (a private redis-server, killed and frozen under traffic)', () => {
  let redis: PrivateRedis | undefined;
  let database: TestDatabase | undefined;
  let service: ServiceProcess | undefined;
  let clients: Client[];
  /** An account no worker uses: its lockout is not reset by a worker's successful login. */
  let victim: { email: string };
  const prefix = `faults-${process.pid}-${randomBytes(3).toString('hex')}`;

  before(async () => {
    privateRedisAvailable();
    redis = await startPrivateRedis();
    database = await createTestDatabase();
    service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({
        DATABASE_URL: database.url as string,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        LOGIN_MAX_FAILURES: '3',
      }),
    });
    const svc = service;
    await waitFor(`${FALLBACK} 0 (counting in Redis)`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 0, 10_000);
    clients = await Promise.all(
      Array.from({ length: WORKERS }, async (_, i) => {
        const user = await newUser(svc.baseUrl, `redisfault${i}`);
        const conversation = await call(svc.baseUrl, 'POST', '/v1/conversations', { token: user.token, json: {}, timeoutMs: 5000 });
        return { token: user.token, email: user.email, conversationId: conversation.body.id as string };
      }),
    );
    victim = await newUser(svc.baseUrl, 'redisvictim');
  });
  after(async () => {
    await service?.stop(5000);
    await redis?.dispose();
    await database?.drop();
  });

  /** Tallies for before, during (from the fault until the gauge is back at 0) and after the fault. */
  const phases = (name: string) => {
    const all = {
      before: new Tally(`${name} (before)`, 'refused_by_design'),
      fault: new Tally(name, 'refused_by_design'),
      after: new Tally(`${name} (after recovery)`, 'refused_by_design'),
    };
    let current = all.before;
    return { ...all, current: () => current, enter: (phase: keyof typeof all) => (current = all[phase]) };
  };

  const assertNothingFailed = (p: ReturnType<typeof phases>, svc: ServiceProcess) => {
    for (const tally of [p.before, p.fault, p.after]) {
      assert.deepEqual(tally.unexpected, [], `${tally.name}: no request failed or hung\n${errorLines(svc.output())}`);
    }
  };

  it('killed (SIGKILL): zero failed requests, the fallback gauge goes to 1, a lockout still locks; after a restart Redis counts again', async () => {
    const svc = service as ServiceProcess;
    const r = redis as PrivateRedis;
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'limits are counted in Redis before the fault');
    const p = phases('redis kill -9');
    const traffic = startTraffic(svc.baseUrl, clients, p.current);
    let fallbackAfterMs = 0;
    let backAfterMs = 0;
    let lockout: Answer | undefined;
    try {
      await waitFor('traffic before the fault', () => p.before.served >= 10, 10_000);
      p.enter('fault');
      await r.kill();
      fallbackAfterMs = await waitFor(`${FALLBACK} 1`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 1, 5000);
      await waitFor('traffic served with Redis down', () => p.fault.served >= 5 * WORKERS, 10_000);

      // The lockout falls back too: three wrong passwords, then even the right one is refused (in memory).
      for (let i = 0; i < 3; i++) {
        const wrong = await call(svc.baseUrl, 'POST', '/v1/auth/login', {
          json: { email: victim.email, password: 'wrong password entirely 1' },
          timeoutMs: HANG_MS,
        });
        assert.equal(wrong.status, 401);
      }
      lockout = await call(svc.baseUrl, 'POST', '/v1/auth/login', { json: { email: victim.email, password: PASSWORD }, timeoutMs: HANG_MS });

      await r.start();
      backAfterMs = await waitFor(`${FALLBACK} 0 after the restart`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 0, 10_000);
      p.enter('after');
      await waitFor('traffic served with Redis back', () => p.after.served >= 2 * WORKERS, 10_000);
    } finally {
      await traffic.stop();
    }
    console.log(p.fault.summary({ fallback_gauge_1_after_ms: Math.round(fallbackAfterMs), gauge_0_after_restart_ms: Math.round(backAfterMs) }));
    assertNothingFailed(p, svc);
    assert.equal(lockout?.status, 429, 'the in-process lockout holds while Redis is down');
    assert.equal(lockout?.code, 'too_many_attempts');
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'the restarted (empty) Redis counts the limits again');
  });

  it('frozen (SIGSTOP, connections open): requests stay bounded and served, the heartbeat reports the fallback; thawed, Redis counts again', async () => {
    const svc = service as ServiceProcess;
    const r = redis as PrivateRedis;
    const p = phases('redis SIGSTOP');
    const traffic = startTraffic(svc.baseUrl, clients, p.current);
    let fallbackAfterMs = 0;
    let backAfterMs = 0;
    try {
      await waitFor('traffic before the freeze', () => p.before.served >= 10, 10_000);
      p.enter('fault');
      r.freeze();
      fallbackAfterMs = await waitFor(`${FALLBACK} 1`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 1, 5000);
      await waitFor('traffic served with Redis frozen', () => p.fault.served >= 5 * WORKERS, 10_000);
      r.thaw();
      backAfterMs = await waitFor(`${FALLBACK} 0 after the thaw`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 0, 10_000);
      p.enter('after');
      await waitFor('traffic served with Redis back', () => p.after.served >= 2 * WORKERS, 10_000);
    } finally {
      await traffic.stop();
    }
    console.log(p.fault.summary({ fallback_gauge_1_after_ms: Math.round(fallbackAfterMs), gauge_0_after_thaw_ms: Math.round(backAfterMs) }));
    assertNothingFailed(p, svc);
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'Redis counts the limits again');
  });
});
