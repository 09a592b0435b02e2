/**
 * npm run bench:ratelimit — the latency the Redis limiter chain adds to a request, against no limiter
 * at all, measured in the same run; plus the round trip of one `limiter.consume()` on Redis.
 *
 * Method. Two Koa apps in this process, each on its own loopback HTTP port, identical except for
 * the limiter chain:
 *   A (baseline)  requestContext → GET /healthz
 *   B (limited)   requestContext → rateLimitResponseHeaders → refuseBlockedClients (abuse breaker:
 *                 one Redis read per IP per second) → global per-IP limit (one atomic Redis round trip) → GET /healthz
 * B is wired from the service's own pieces exactly as deps.ts and app.ts wire them (createRedis with
 * the service's client options, createLimiterFactory, createAbuseBreaker, limitRequests), with a limit
 * far out of reach so nothing is refused. This isolates the limiter better than two service
 * processes would: a service started without Redis still runs the in-memory limiter (it is not "no
 * limiter"), and the rest of the service's middleware (access log, security headers, problem
 * details, metrics) is the same in both arms, so it adds only noise to the difference.
 *
 * Latency: one request in flight at a time over a keep-alive connection per app, thousands per arm
 * after a warm-up, arms alternated in blocks (AB, BA, AB, …) so drift (CPU frequency, GC, other
 * load on the box) falls on both alike. Reported: p50/p99 of each arm and their differences. The
 * micro-measures time `limiter.consume()` on Redis, the breaker's read, a bare PING (the loopback
 * floor) and `consume()` in memory, one at a time.
 *
 * Keys go under a unique prefix and are deleted at the end. REDIS: BENCH_REDIS_URL, TEST_REDIS_URL or
 * REDIS_URL, else redis://127.0.0.1:6379. BENCH_REQUESTS sets the requests per arm (default 10000).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import { createAbuseBreaker } from '../service/src/platform/abuse-breaker.js';
import { limitRequests, rateLimitResponseHeaders, refuseBlockedClients } from '../service/src/platform/http/rate-limit.js';
import { requestContext } from '../service/src/platform/http/request-context.js';
import { createHttpServer, listen } from '../service/src/platform/http/server.js';
import { createLogger } from '../service/src/platform/logger.js';
import { createMetrics } from '../service/src/platform/metrics.js';
import { createLimiterFactory } from '../service/src/platform/rate-limit.js';
import { createRedis } from '../service/src/platform/redis.js';
import { fmt, type LatencySummary, summarize, table } from './lib/stats.js';

const REDIS_URL = process.env.BENCH_REDIS_URL || process.env.TEST_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const BLOCK = 500;
const WARMUP = 2000;
const MICRO = 5000;
const TARGET_P50_ADDED_MS = 0.5;
/** The measured phase stops early past this, so the whole run stays well under a minute. */
const BUDGET_MS = 35_000;
const PREFIX = `bench-rl-${process.pid}-${randomBytes(4).toString('hex')}`;

const started = performance.now();
const logger = createLogger({
  level: 'warn',
  destination: new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  }),
});
const metrics = createMetrics({ defaultMetrics: false });
let fellBack = false;
let redisWasUp = false;
const redis = createRedis(REDIS_URL, logger, (up) => {
  metrics.rateLimitRedisFallback.set(up ? 0 : 1);
  if (!up && redisWasUp) fellBack = true;
});

const servers: Server[] = [];
const agents: Agent[] = [];

async function waitForRedis(): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!redis.available()) {
    if (Date.now() > deadline) throw new Error(`Redis at ${redisHost()} did not answer within 5 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  redisWasUp = true;
}

/** host:port only: a URL may carry a password. */
function redisHost(): string {
  const u = new URL(REDIS_URL);
  return `${u.hostname}:${u.port || 6379}`;
}

function healthRouter(): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  return router;
}

async function serve(app: Koa): Promise<{ port: number; agent: Agent }> {
  const server = createHttpServer(app);
  servers.push(server);
  const { port } = await listen(server, 0, '127.0.0.1');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  return { port, agent };
}

/** One GET /healthz; its latency in ms and whether the limiter's headers came back. */
function get(target: { port: number; agent: Agent }): Promise<{ ms: number; limited: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port: target.port, path: '/healthz', agent: target.agent }, (res) => {
      res.resume();
      res.on('end', () => {
        const ms = performance.now() - t0;
        if (res.statusCode !== 200) return reject(new Error(`GET /healthz answered ${res.statusCode}`));
        resolve({ ms, limited: res.headers.ratelimit !== undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function block(target: { port: number; agent: Agent }, n: number, expectLimited: boolean, into?: number[]) {
  for (let i = 0; i < n; i++) {
    const { ms, limited } = await get(target);
    if (limited !== expectLimited)
      throw new Error(`limiter headers ${limited ? 'present' : 'missing'} on the ${expectLimited ? 'limited' : 'baseline'} arm`);
    into?.push(ms);
  }
}

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

async function keysUnderPrefix(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.client.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

try {
  await waitForRedis();

  // The limiter chain, wired as deps.ts wires it.
  const factory = createLimiterFactory({ redis: redis.client, keyPrefix: PREFIX });
  const breaker = createAbuseBreaker({ factory, threshold: 100, blockSeconds: 900, logger });
  const globalLimiter = factory({ name: 'global', points: 1_000_000_000, windowSeconds: 60 });
  const globalLimit = limitRequests({ limiter: globalLimiter, key: (ctx) => ctx.state.clientIp as string, metrics, breaker });

  const baselineApp = new Koa({ proxy: false });
  const baselineRouter = healthRouter();
  baselineApp.use(requestContext([])).use(baselineRouter.routes());

  const limitedApp = new Koa({ proxy: false });
  const limitedRouter = healthRouter();
  limitedApp
    .use(requestContext([]))
    .use(rateLimitResponseHeaders())
    .use(refuseBlockedClients(breaker, metrics, () => '/healthz'))
    .use(globalLimit)
    .use(limitedRouter.routes());

  const baseline = await serve(baselineApp);
  const limited = await serve(limitedApp);

  // Warm-up: JIT, connections, the Lua script cached in Redis.
  for (let i = 0; i < WARMUP / 250; i++) {
    await block(baseline, 250, false);
    await block(limited, 250, true);
  }

  const a: number[] = [];
  const b: number[] = [];
  const phaseStart = performance.now();
  let round = 0;
  while (a.length < REQUESTS && performance.now() - phaseStart < BUDGET_MS) {
    const n = Math.min(BLOCK, REQUESTS - a.length);
    if (round % 2 === 0) {
      await block(baseline, n, false, a);
      await block(limited, n, true, b);
    } else {
      await block(limited, n, true, b);
      await block(baseline, n, false, a);
    }
    round += 1;
  }

  // Every limited request was counted in Redis (not by the in-memory fallback).
  const globalKeys = (await keysUnderPrefix()).filter((k) => k.startsWith(`${PREFIX}:rl:global:`));
  const countedInRedis = globalKeys.length === 1 ? Number(await redis.client.get(globalKeys[0] as string)) : Number.NaN;
  const limitedSent = WARMUP + b.length;

  // Micro-measures, one call at a time.
  const microLimiter = factory({ name: 'micro', points: 1_000_000_000, windowSeconds: 60 });
  await timeEach(500, () => microLimiter.consume('warm'));
  const consume = await timeEach(MICRO, () => microLimiter.consume('k'));
  // A new address each call: the breaker trusts a "not blocked" answer for 1 s per IP, which would hide Redis.
  const peek = await timeEach(MICRO, (i) => breaker.blocked(`10.0.${i >> 8}.${i & 255}`));
  const ping = await timeEach(MICRO, () => redis.client.ping());
  const memoryLimiter = createLimiterFactory({ keyPrefix: PREFIX })({ name: 'memory', points: 1_000_000_000, windowSeconds: 60 });
  await timeEach(500, () => memoryLimiter.consume('warm'));
  const memoryConsume = await timeEach(MICRO, () => memoryLimiter.consume('k'));

  if (fellBack)
    throw new Error('Redis became unavailable during the run: the limited arm fell back to memory; results discarded');

  const sa = summarize(a);
  const sb = summarize(b);
  const added = { p50: sb.p50 - sa.p50, p99: sb.p99 - sa.p99 };
  const row = (label: string, s: LatencySummary): (string | number)[] => [
    label,
    s.count,
    fmt(s.p50, 3),
    fmt(s.p95, 3),
    fmt(s.p99, 3),
    fmt(s.max, 3),
  ];
  const sConsume = summarize(consume);
  const sPeek = summarize(peek);
  const sPing = summarize(ping);
  const sMemory = summarize(memoryConsume);
  console.log(
    `\nbench:ratelimit — Redis ${redisHost()}, Node ${process.version}, ${availableParallelism()} CPUs, ` +
      `${sa.count} sequential requests per arm in blocks of ${BLOCK} (after ${WARMUP} warm-up)`,
  );
  console.log(
    table(
      ['measure', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [
        row('GET /healthz, no limiter (A)', sa),
        row('GET /healthz, Redis limiter chain (B)', sb),
        ['added by the chain (B − A)', '', fmt(added.p50, 3), fmt(sb.p95 - sa.p95, 3), fmt(added.p99, 3), ''],
        row('limiter.consume() on Redis', sConsume),
        row('abuse breaker peek on Redis', sPeek),
        row('Redis PING (loopback floor)', sPing),
        row('limiter.consume() in memory', sMemory),
      ],
    ),
  );
  const met = added.p50 <= TARGET_P50_ADDED_MS;
  console.log(
    `\nadded p50 = ${fmt(added.p50 * 1000, 0)} µs, p99 = ${fmt(added.p99 * 1000, 0)} µs (target p50 ≤ ${TARGET_P50_ADDED_MS} ms: ${met ? 'met' : 'MISSED'})`,
  );
  console.log(`limited requests counted in Redis: ${countedInRedis} of ${limitedSent} sent`);
  console.log(`run took ${fmt((performance.now() - started) / 1000, 1)} s`);

  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/ratelimit.json',
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        redis: redisHost(),
        node: process.version,
        cpus: availableParallelism(),
        method: 'in-process Koa, loopback HTTP keep-alive, sequential, A/B alternated in blocks',
        requestsPerArm: sa.count,
        blockSize: BLOCK,
        warmup: WARMUP,
        baseline: sa,
        limited: sb,
        added,
        consumeRedis: sConsume,
        peekRedis: sPeek,
        pingRedis: sPing,
        consumeMemory: sMemory,
        countedInRedis,
        limitedSent,
        targetP50AddedMs: TARGET_P50_ADDED_MS,
        met,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  for (const agent of agents) agent.destroy();
  if (redis.client.status === 'ready') {
    const keys = await keysUnderPrefix();
    if (keys.length > 0) await redis.client.del(...keys);
  }
  await redis.close();
}
