/**
 * npm run bench:pool — the read and the write scenario at DB_POOL_MAX 2, 5, 10, 20, 40 (and, at
 * the smallest pool, two short DB_ACQUIRE_TIMEOUT_MS values), each against a fresh service process
 * on the same throwaway PostgreSQL database and Redis. Prints the curve (req/s, p50/p95/p99,
 * errors) and the smallest pool within 5% of the best throughput of both scenarios — the basis of
 * DB_POOL_MAX's default (docs/performance.md). Other work on a shared machine only ever slows a
 * point down, so every point runs BENCH_ROUNDS times (default 2; the pool sizes ascending, then
 * descending, so drift falls on both ends) and the best round counts. `--quick`: one short round.
 *
 *   read   GET /v1/conversations (one keyset query), 32 connections
 *   write  POST /v1/conversations/{id}/messages (builtin model, no pacing: a transaction of inserts), 32 connections
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { measure, scenarios, seedFixture } from './lib/scenarios.js';
import { benchDatabase, benchRedis, LOCAL_POSTGRES, NO_RATE_LIMITS, startService } from './lib/service.js';
import { fmt, summarize, table } from './lib/stats.js';

const quick = process.argv.includes('--quick');
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 2 : 4));
const WARM = 1;
const CONNECTIONS = 32;
const POOLS = [2, 5, 10, 20, 40];
/** At the smallest pool: how a short acquire timeout trades queueing for fast errors. */
const ACQUIRE_TIMEOUTS = [100, 1000];
const DEFAULT_ACQUIRE_MS = 5000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 2));

interface Point {
  poolMax: number;
  acquireMs: number;
  scenario: 'read' | 'write';
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

const started = performance.now();
const loadAtStart = loadavg();
const db = await benchDatabase({ fallbackUrl: LOCAL_POSTGRES });
const redis = benchRedis();
const points: Point[] = [];
let maxConnections = '';
try {
  const admin = new pg.Client({ connectionString: db.env.DATABASE_URL });
  await admin.connect();
  maxConnections = (await admin.query('show max_connections')).rows[0].max_connections as string;
  await admin.end();

  const once = [
    ...POOLS.map((poolMax) => ({ poolMax, acquireMs: DEFAULT_ACQUIRE_MS })),
    ...ACQUIRE_TIMEOUTS.map((acquireMs) => ({ poolMax: POOLS[0] as number, acquireMs })),
  ];
  const runs = Array.from({ length: ROUNDS }, (_, round) => (round % 2 === 0 ? once : [...once].reverse())).flat();
  for (const { poolMax, acquireMs } of runs) {
    process.stderr.write(`  … DB_POOL_MAX=${poolMax} DB_ACQUIRE_TIMEOUT_MS=${acquireMs} (${fmt((performance.now() - started) / 1000, 0)} s)\n`);
    const svc = await startService({
      ...db.env,
      ...redis.env,
      ...NO_RATE_LIMITS,
      BUILTIN_MODEL_DELAY_MS: '0',
      DB_POOL_MAX: String(poolMax),
      DB_ACQUIRE_TIMEOUT_MS: String(acquireMs),
    });
    try {
      const fixture = await seedFixture(svc.baseUrl, 1);
      const all = scenarios(1);
      const read = all.find((s) => s.name === 'conversations')?.requests(fixture) ?? [];
      const write = all.find((s) => s.name === 'message')?.requests(fixture) ?? [];
      for (const [scenario, requests] of [
        ['read', read],
        ['write', write],
      ] as const) {
        const r = await measure(svc.baseUrl, CONNECTIONS, requests, SECONDS, WARM);
        const s = summarize(r.latencies);
        const point = { poolMax, acquireMs, scenario, rate: r.rate, p50: s.p50, p95: s.p95, p99: s.p99, errors: r.errors };
        const earlier = points.findIndex((p) => p.poolMax === poolMax && p.acquireMs === acquireMs && p.scenario === scenario);
        if (earlier === -1) points.push(point);
        else if ((points[earlier] as Point).rate < point.rate) points[earlier] = point; // best round counts
      }
    } finally {
      await svc.stop();
    }
  }
} finally {
  await db.drop();
  await redis.cleanup();
}

const curve = points.filter((p) => p.acquireMs === DEFAULT_ACQUIRE_MS);
const best = (scenario: string) => Math.max(...curve.filter((p) => p.scenario === scenario).map((p) => p.rate));
// The smallest pool whose read and write throughput are both within 5% of the best seen, without errors.
const recommended = POOLS.find((poolMax) =>
  (['read', 'write'] as const).every((scenario) => {
    const p = curve.find((q) => q.poolMax === poolMax && q.scenario === scenario);
    return p !== undefined && p.errors === 0 && p.rate >= 0.95 * best(scenario);
  }),
);
console.log(
  `\nbench:pool — ${db.describe} (max_connections ${maxConnections}), ${availableParallelism()} CPUs, ${CONNECTIONS} connections, best of ${ROUNDS} × ${SECONDS}s per point, load avg at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
);
console.log(
  table(
    ['DB_POOL_MAX', 'acquire ms', 'scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'],
    points.map((p) => [p.poolMax, p.acquireMs, p.scenario, fmt(p.rate), fmt(p.p50, 2), fmt(p.p95, 2), fmt(p.p99, 2), p.errors]),
  ),
);
console.log(`\nsmallest pool within 5% of the best read and write throughput, without errors: ${recommended ?? 'none'}`);
console.log(`wall time ${fmt((performance.now() - started) / 1000, 0)} s`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/pool.json',
  `${JSON.stringify({ at: new Date().toISOString(), database: db.describe, maxConnections, cpus: availableParallelism(), connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, loadAvgAtStart: loadAtStart, points, recommended }, null, 2)}\n`,
);
