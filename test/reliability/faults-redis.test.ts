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
import { type PrivateRedis, privateRedisAvailable, startPrivateRedis } from './helpers/private-redis.js';

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
  });
  after(async () => {
    await service?.stop(5000);
    await redis?.dispose();
    await database?.drop();
  });

  it('killed (SIGKILL): zero failed requests, the fallback gauge goes to 1, a lockout still locks; after a restart Redis counts again', async () => {
    const svc = service as ServiceProcess;
    const r = redis as PrivateRedis;
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'limits are counted in Redis before the fault');
    const fault = new Tally('redis kill -9');
    const traffic = startTraffic(svc.baseUrl, clients, () => fault);
    let fallbackAfterMs = 0;
    let backAfterMs = 0;
    let lockout: Answer | undefined;
    try {
      await waitFor('traffic before the fault', () => fault.served >= 10, 10_000);
      await r.kill();
      fallbackAfterMs = await waitFor(`${FALLBACK} 1`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 1, 5000);
      const servedAtKill = fault.served;
      await waitFor('traffic served with Redis down', () => fault.served >= servedAtKill + 5 * WORKERS, 10_000);

      // The lockout falls back too: three wrong passwords, then even the right one is refused (in memory).
      const victim = clients[0] as Client;
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
      const servedAtRestart = fault.served;
      await waitFor('traffic served with Redis back', () => fault.served >= servedAtRestart + 2 * WORKERS, 10_000);
    } finally {
      await traffic.stop();
    }
    console.log(fault.summary({ fallback_gauge_1_after_ms: Math.round(fallbackAfterMs), gauge_0_after_restart_ms: Math.round(backAfterMs) }));
    // The workers' own logins can land inside the lock window of client 0: those 429s are the lockout working.
    const unexpected = fault.unexpected.filter((u) => !u.includes('POST /v1/auth/login → 429 too_many_attempts'));
    assert.deepEqual(unexpected, [], `no request failed while Redis was away\n${errorLines(svc.output())}`);
    assert.equal(lockout?.status, 429, 'the in-process lockout holds while Redis is down');
    assert.equal(lockout?.code, 'too_many_attempts');
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'the restarted (empty) Redis counts the limits again');
  });

  it('frozen (SIGSTOP, connections open): requests stay bounded and served, the heartbeat reports the fallback; thawed, Redis counts again', async () => {
    const svc = service as ServiceProcess;
    const r = redis as PrivateRedis;
    // Lockouts set by the previous test are in memory and in Redis: a fresh user set avoids them.
    const fault = new Tally('redis SIGSTOP');
    const traffic = startTraffic(svc.baseUrl, clients.slice(1).concat(clients.slice(1, 2)), () => fault);
    let fallbackAfterMs = 0;
    let backAfterMs = 0;
    try {
      await waitFor('traffic before the freeze', () => fault.served >= 10, 10_000);
      r.freeze();
      fallbackAfterMs = await waitFor(`${FALLBACK} 1`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 1, 5000);
      const servedAtFreeze = fault.served;
      await waitFor('traffic served with Redis frozen', () => fault.served >= servedAtFreeze + 5 * WORKERS, 10_000);
      r.thaw();
      backAfterMs = await waitFor(`${FALLBACK} 0 after the thaw`, async () => (await scrape(svc.metricsUrl, FALLBACK)) === 0, 10_000);
      const servedAtRestart = fault.served;
      await waitFor('traffic served with Redis back', () => fault.served >= servedAtRestart + 2 * WORKERS, 10_000);
    } finally {
      await traffic.stop();
    }
    console.log(fault.summary({ fallback_gauge_1_after_ms: Math.round(fallbackAfterMs), gauge_0_after_thaw_ms: Math.round(backAfterMs) }));
    assert.deepEqual(fault.unexpected, [], `no request failed or hung while Redis was frozen\n${errorLines(svc.output())}`);
    assert.ok((await keysUnder(r.url, `${prefix}:rl:global:*`)).length > 0, 'Redis counts the limits again');
  });
});
