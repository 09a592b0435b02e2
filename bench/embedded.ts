/**
 * npm run bench:embedded — what the embedded default costs in memory: the service as `npm start` runs
 * it with nothing configured (bin/rampart.js from the sources, PGlite under a fresh DATA_DIR), its
 * resident set (VmRSS, and the peak VmHWM, from /proc) once idle after a first start (initdb and the
 * migrations) and after a restart on the same directory, each before and after a little traffic
 * (signup, login, /v1/me, a conversation and a message). With BENCH_DATABASE_URL / TEST_DATABASE_URL,
 * the same service on PostgreSQL (a throwaway database, dropped afterwards) for comparison. The V8 heap
 * comes from the service's own /metrics (prom-client's default metrics).
 *
 * Target (issue 24): RSS after start ≤ 300 MiB on the embedded default.
 *
 * BENCH_ROUNDS (default 3) fresh directories, each started twice; BENCH_SETTLE_MS (default 3000) idle
 * time before a sample; BENCH_NODE_ARGS flags for the service's Node. Every child process and temporary directory is removed whatever happens, and
 * the whole run is bounded (BENCH_TIMEOUT_MS, default 15 minutes).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type ServiceProcess, spawnService } from '../test/helpers/service-process.js';
import { BENCH_PASSWORD } from './lib/scenarios.js';
import { fmt, table } from './lib/stats.js';

const TARGET_MIB = 300;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 15 * 60_000);
/** Bound on one HTTP call and on one service start (a first start runs initdb and the migrations). */
const CALL_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 120_000;
const admin = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;

/** Everything to undo, whatever happens: running services, temporary directories, the database. */
const running = new Set<ServiceProcess>();
const dirs = new Set<string>();
let dropDatabase: (() => Promise<void>) | undefined;

/** Processes started by `pid` (the service's initdb child, on a first start), from /proc. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killAll(): void {
  for (const s of running) {
    if (s.child.exitCode !== null || s.child.signalCode !== null || s.child.pid === undefined) continue;
    // A service killed outright cannot stop its initdb child itself.
    for (const pid of children(s.child.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    s.child.kill('SIGKILL');
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}
const deadline = setTimeout(() => {
  console.error(`bench:embedded: gave up after ${TIMEOUT_MS} ms`);
  void (dropDatabase?.() ?? Promise.resolve()).finally(() => process.exit(1));
}, TIMEOUT_MS);
deadline.unref();

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/** VmRSS and VmHWM of a process, in MiB. */
function memory(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/** The V8 heap as the service reports it on /metrics. */
async function heap(metricsUrl: string): Promise<{ heapTotalMiB: number; heapUsedMiB: number }> {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })).text();
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN) / 1048576;
  return { heapTotalMiB: value('nodejs_heap_size_total_bytes'), heapUsedMiB: value('nodejs_heap_size_used_bytes') };
}

async function call(base: string, method: string, path: string, body?: unknown, token?: string): Promise<Record<string, any>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`);
  return text ? (JSON.parse(text) as Record<string, any>) : {};
}

/** A little traffic: what a developer trying the API does first. */
async function traffic(base: string): Promise<void> {
  const email = `embedded-${randomBytes(4).toString('hex')}@example.com`;
  await call(base, 'POST', '/v1/auth/signup', { email, password: BENCH_PASSWORD });
  const { access_token: token } = await call(base, 'POST', '/v1/auth/login', { email, password: BENCH_PASSWORD });
  await call(base, 'GET', '/v1/me', undefined, token);
  const conversation = await call(base, 'POST', '/v1/conversations', { title: 'castles' }, token);
  await call(
    base,
    'POST',
    `/v1/conversations/${conversation.id}/messages`,
    { content: 'How thick should a castle wall be?' },
    token,
  );
  await call(base, 'GET', `/v1/conversations/${conversation.id}/messages`, undefined, token);
  await call(base, 'GET', '/v1/conversations', undefined, token);
}

interface Sample {
  rssMiB: number;
  hwmMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
}
interface StartSamples {
  startSeconds: number;
  idle: Sample;
  afterTraffic: Sample;
}

async function sample(service: ServiceProcess): Promise<Sample> {
  await sleep(SETTLE_MS);
  const pid = service.child.pid as number;
  return { ...memory(pid), ...(await heap(service.metricsUrl)) };
}

/** One start of the service: idle sample, traffic, sample, stop. */
async function startOnce(env: Record<string, string>, logDir: string): Promise<StartSamples> {
  const t0 = performance.now();
  const service = await spawnService({
    entry: 'bin/rampart.js',
    // BENCH_NODE_ARGS passes flags to the service, as in the other benches (e.g. "--liftoff-only").
    nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    // Nothing configured, as `npm start` on a fresh clone: no DATABASE_URL, REDIS_URL, JWT_SECRET…
    inherit: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TMPDIR: tmpdir() },
    env,
    logFile: join(logDir, `service-${randomBytes(3).toString('hex')}.log`),
    startTimeoutMs: START_TIMEOUT_MS,
  });
  running.add(service);
  try {
    const startSeconds = (performance.now() - t0) / 1000;
    const idle = await sample(service);
    await traffic(service.baseUrl);
    const afterTraffic = await sample(service);
    return { startSeconds, idle, afterTraffic };
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : err}\n--- service output ---\n${service.output().slice(-4000)}`);
  } finally {
    await service.stop();
    running.delete(service);
  }
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

type Runs = { first: StartSamples[]; restart: StartSamples[] };

async function embeddedRuns(): Promise<Runs> {
  const runs: Runs = { first: [], restart: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const dataDir = tempDir('rampart-bench-embedded-');
    const env = { DATA_DIR: join(dataDir, 'data') };
    runs.first.push(await startOnce(env, dataDir));
    runs.restart.push(await startOnce(env, dataDir));
    rmSync(dataDir, { recursive: true, force: true });
    dirs.delete(dataDir);
  }
  return runs;
}

async function postgresRuns(url: string): Promise<Runs> {
  const name = `rampart_bench_embedded_${process.pid}_${randomBytes(3).toString('hex')}`;
  const runs: Runs = { first: [], restart: [] };
  const logDir = tempDir('rampart-bench-embedded-pg-');
  for (let round = 0; round < ROUNDS; round++) {
    await sql(url, `create database ${name}`);
    dropDatabase = () => sql(url, `drop database if exists ${name} with (force)`).catch(() => undefined);
    try {
      const u = new URL(url);
      u.pathname = `/${name}`;
      const env = { DATABASE_URL: u.toString(), DATA_DIR: join(logDir, 'unused') };
      runs.first.push(await startOnce(env, logDir));
      runs.restart.push(await startOnce(env, logDir));
    } finally {
      await dropDatabase();
      dropDatabase = undefined;
    }
  }
  return runs;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median, min and max of one field over the samples. */
function spread(samples: StartSamples[], pick: (s: StartSamples) => number) {
  const v = samples.map(pick);
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
}
const cell = (s: { median: number; min: number; max: number }) => `${fmt(s.median, 0)} (${fmt(s.min, 0)}–${fmt(s.max, 0)})`;

function summarise(runs: Runs) {
  const one = (samples: StartSamples[]) => ({
    startSeconds: spread(samples, (s) => s.startSeconds),
    rssIdle: spread(samples, (s) => s.idle.rssMiB),
    hwmIdle: spread(samples, (s) => s.idle.hwmMiB),
    heapTotalIdle: spread(samples, (s) => s.idle.heapTotalMiB),
    rssAfterTraffic: spread(samples, (s) => s.afterTraffic.rssMiB),
    hwmAfterTraffic: spread(samples, (s) => s.afterTraffic.hwmMiB),
  });
  return { first: one(runs.first), restart: one(runs.restart) };
}

try {
  const embedded = await embeddedRuns();
  const postgres = admin ? await postgresRuns(admin) : undefined;
  const summary = { embedded: summarise(embedded), postgres: postgres ? summarise(postgres) : undefined };
  const worst = Math.max(summary.embedded.first.rssIdle.median, summary.embedded.restart.rssIdle.median);
  const met = worst <= TARGET_MIB;

  const rows: (string | number)[][] = [];
  for (const [label, s] of [
    ['embedded PGlite', summary.embedded],
    ['PostgreSQL', summary.postgres],
  ] as const) {
    if (!s) continue;
    for (const [start, x] of [
      ['first start', s.first],
      ['restart', s.restart],
    ] as const) {
      rows.push([
        label,
        start,
        cell(x.rssIdle),
        cell(x.hwmIdle),
        cell(x.heapTotalIdle),
        cell(x.rssAfterTraffic),
        cell(x.hwmAfterTraffic),
        fmt(x.startSeconds.median, 1),
      ]);
    }
  }
  console.log(
    table(
      [
        `MiB, median (min–max) of ${ROUNDS}`,
        'start',
        'RSS idle',
        'peak (HWM)',
        'V8 heap',
        'RSS after traffic',
        'peak after traffic',
        'start s',
      ],
      rows,
    ),
  );
  console.log(
    `\nembedded default RSS after start: ${fmt(worst, 0)} MiB (the larger of first start and restart; target ≤ ${TARGET_MIB} MiB) — ${met ? 'met' : 'MISSED'}`,
  );
  if (!admin) console.log('(set BENCH_DATABASE_URL or TEST_DATABASE_URL to compare with PostgreSQL)');

  const results = {
    at: new Date().toISOString(),
    node: process.version,
    entry: 'bin/rampart.js (sources, NODE_ENV unset: what `npm start` runs with nothing configured)',
    rounds: ROUNDS,
    settleMs: SETTLE_MS,
    nodeArgs: process.env.BENCH_NODE_ARGS ?? '',
    targetMiB: TARGET_MIB,
    rssAfterStartMiB: worst,
    met,
    summary,
    runs: { embedded, postgres },
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/embedded.json', `${JSON.stringify(results, null, 2)}\n`);
} finally {
  clearTimeout(deadline);
  for (const s of running) await s.stop(5_000);
  await dropDatabase?.();
  killAll();
}
