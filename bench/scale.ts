/**
 * npm run bench:scale — 1 and then 2 service instances behind a round-robin proxy (bench/lib/proxy.ts,
 * its own process), sharing one PostgreSQL database and one Redis: the throughput ratio of the read
 * and the write scenario, and two checks that must hold across instances (exit 1 if either fails):
 *
 *   limits      a per-IP limit of N per minute allows N requests in total, sent alternately to both
 *               instances — not N per instance (the counters live in Redis);
 *   revocation  a session revoked through one instance is refused by the other once its session
 *               cache expires (1 s, components/auth/session-guard.ts), and at once by the first.
 *
 * On 2 cores with the load generator, the proxy, PostgreSQL and Redis on the same cores, a second
 * instance has no idle core to use: expect little gain here (docs/performance.md explains).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { startChild } from './lib/child.js';
import { callJson } from './lib/load.js';
import { BENCH_PASSWORD, measure, scenarios, seedFixture } from './lib/scenarios.js';
import { benchDatabase, benchRedis, type BenchService, LOCAL_POSTGRES, NO_RATE_LIMITS, startService } from './lib/service.js';
import { fmt, summarize, table } from './lib/stats.js';

const quick = process.argv.includes('--quick');
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 3 : 6));
const WARM = quick ? 1 : 2;
const CONNECTIONS = 32;
/** RATE_LIMIT_REFRESH_PER_MINUTE on both instances: the per-IP limit the check counts against. */
const LIMIT = 20;

const started = performance.now();
const loadAtStart = loadavg();
const db = await benchDatabase({ fallbackUrl: LOCAL_POSTGRES });
const redis = benchRedis();
const env = {
  ...db.env,
  ...redis.env,
  ...NO_RATE_LIMITS,
  RATE_LIMIT_REFRESH_PER_MINUTE: String(LIMIT),
  BUILTIN_MODEL_DELAY_MS: '0',
  // One signing key for both, as replicas of one deployment share it.
  JWT_SECRET: randomBytes(64).toString('base64url'),
};
const instances: BenchService[] = [];
const rows: (string | number)[][] = [];
const ratios: Record<string, number> = {};
const checks: { name: string; ok: boolean; detail: string }[] = [];
try {
  instances.push(await startService(env));
  instances.push(await startService({ ...env, MIGRATE_ON_START: 'false' }));
  const [a, b] = instances as [BenchService, BenchService];
  const fixture = await seedFixture(a.baseUrl, 4);
  const all = scenarios(1);
  const work = [
    { name: 'read: GET /v1/me', requests: all.find((s) => s.name === 'me')?.requests(fixture) ?? [] },
    { name: 'write: POST …/messages', requests: all.find((s) => s.name === 'message')?.requests(fixture) ?? [] },
  ];

  const rates: Record<string, number[]> = {};
  for (const backends of [[a], [a, b]]) {
    const proxy = await startChild('bench/lib/proxy.ts', { BACKENDS: backends.map((s) => s.baseUrl).join(',') });
    try {
      const url = `http://127.0.0.1:${proxy.port}`;
      for (const w of work) {
        process.stderr.write(`  … ${backends.length} instance(s): ${w.name} (${fmt((performance.now() - started) / 1000, 0)} s)\n`);
        const r = await measure(url, CONNECTIONS, w.requests, SECONDS, WARM);
        const s = summarize(r.latencies);
        rates[w.name] = [...(rates[w.name] ?? []), r.rate];
        rows.push([backends.length, w.name, fmt(r.rate), fmt(s.p50, 2), fmt(s.p95, 2), fmt(s.p99, 2), r.errors]);
      }
    } finally {
      await proxy.stop();
    }
  }
  for (const [name, [one, two]] of Object.entries(rates)) ratios[name] = (two as number) / (one as number);

  // Limits: 2 × LIMIT refreshes (with a token that does not exist: cheap, and still counted), alternating A, B.
  const statuses: number[] = [];
  for (let i = 0; i < 2 * LIMIT; i++) {
    const target = i % 2 === 0 ? a : b;
    statuses.push((await callJson(target.baseUrl, 'POST', '/v1/auth/refresh', { refresh_token: randomBytes(32).toString('base64url') })).status);
  }
  const allowed = statuses.filter((s) => s !== 429).length;
  checks.push({
    name: 'per-IP limit shared',
    ok: allowed === LIMIT,
    detail: `limit ${LIMIT}/min, ${2 * LIMIT} requests alternating over 2 instances: ${allowed} allowed, ${statuses.length - allowed} refused (429)`,
  });

  // Revocation: B has seen the session active (and cached that); A revokes it.
  const s = await callJson(a.baseUrl, 'POST', '/v1/auth/signup', { email: `scale-${randomBytes(3).toString('hex')}@example.com`, password: BENCH_PASSWORD });
  const token = s.body.access_token as string;
  const before = (await callJson(b.baseUrl, 'GET', '/v1/me', undefined, token)).status;
  const logout = (await callJson(a.baseUrl, 'POST', '/v1/auth/logout', { refresh_token: s.body.refresh_token })).status;
  const revokedAt = performance.now();
  const onA = (await callJson(a.baseUrl, 'GET', '/v1/me', undefined, token)).status;
  let onB = 200;
  while (onB === 200 && performance.now() - revokedAt < 3000) {
    await new Promise((r) => setTimeout(r, 50));
    onB = (await callJson(b.baseUrl, 'GET', '/v1/me', undefined, token)).status;
  }
  const seenAfter = performance.now() - revokedAt;
  checks.push({
    name: 'revocation seen by the other instance',
    ok: before === 200 && logout === 204 && onA === 401 && onB === 401 && seenAfter <= 1500,
    detail: `before ${before}, logout via A ${logout}, A at once ${onA}, B ${onB} after ${fmt(seenAfter, 0)} ms (bound: session cache 1 s)`,
  });
} finally {
  for (const svc of instances) await svc.stop();
  await db.drop();
  await redis.cleanup();
}

console.log(
  `\nbench:scale — ${db.describe}, ${redis.describe}, ${availableParallelism()} CPUs shared by the instances, proxy, load generator, PostgreSQL and Redis; ${CONNECTIONS} connections, ${SECONDS}s per phase; load avg at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
);
console.log(table(['instances', 'scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'], rows));
console.log('');
for (const [name, ratio] of Object.entries(ratios)) console.log(`2 instances ÷ 1 instance, ${name}: ${fmt(ratio, 2)}×`);
for (const c of checks) console.log(`${c.ok ? 'ok    ' : 'FAILED'}  ${c.name}: ${c.detail}`);
console.log(`wall time ${fmt((performance.now() - started) / 1000, 0)} s`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/scale.json',
  `${JSON.stringify({ at: new Date().toISOString(), cpus: availableParallelism(), connections: CONNECTIONS, seconds: SECONDS, loadAvgAtStart: loadAtStart, rows, ratios, checks }, null, 2)}\n`,
);
if (checks.some((c) => !c.ok)) process.exitCode = 1;
