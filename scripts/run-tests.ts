/**
 * `npm test`: every test file under test/ (or the files and folders named), two at a time, each in a
 * process of its own with a deadline, against real PostgreSQL and Redis, with one closing summary.
 *
 *   npm test                                   the whole suite
 *   npm test -- test/reliability               the files under a folder
 *   npm test -- test/cli/audit.test.ts --test-name-pattern=eol
 *
 * Services: TEST_DATABASE_URL and TEST_REDIS_URL when set (CI sets both). When one is unset and the
 * binaries exist (initdb/pg_ctl, redis-server), a private server is started for the run on a free
 * port of 127.0.0.1 and removed at the end; without the binaries the tests that need the service skip
 * and say why. REQUIRE_SERVICES=1 turns every such skip into a failure.
 *
 * Nothing can hang the run: each test has --test-timeout, each file `TEST_FILE_TIMEOUT_MS` (default
 * 10 minutes; the reliability suites' budgets are far below), after which its process group is
 * killed and the file counts as failed; `--test-force-exit` ends a file whose tests finished but whose
 * handles would keep it alive.
 *
 * The summary's `# pass` / `# fail` lines are node's test-runner format, and every skipped test is
 * listed with its reason. Exit 0 only when no test failed, no file failed or timed out, and at least
 * one test ran.
 */
import '../bin/require-node.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { privatePostgresAvailable, startPrivatePostgres, type PrivatePostgres } from '../test/helpers/private-postgres.js';
import { privateRedisAvailable, startPrivateRedis, type PrivateRedis } from '../test/helpers/private-redis.js';

const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);
const CONCURRENCY = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 2));

function collect(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'helpers' || name === 'fixtures' ? [] : collect(path);
      return name.endsWith('.test.ts') ? [path] : [];
    });
}

const argv = process.argv.slice(2);
const named = argv.filter((a) => !a.startsWith('-') && existsSync(a));
const passThrough = argv.filter((a) => !named.includes(a));
const files = (named.length ? named : ['test']).flatMap((a) => (statSync(a).isDirectory() ? collect(a) : [a]));
// --test-timeout given on the command line (test:reliability) replaces the default.
const nodeTestArgs = passThrough.some((a) => a.startsWith('--test-timeout')) ? passThrough : ['--test-timeout=120000', ...passThrough];

// ---- services ---------------------------------------------------------------------------------
const env: NodeJS.ProcessEnv = { ...process.env };
const started: { dispose(): Promise<void> }[] = [];
const notes: string[] = [];

async function provideServices(): Promise<void> {
  if (!env.TEST_DATABASE_URL) {
    if (privatePostgresAvailable()) {
      const pg: PrivatePostgres = await startPrivatePostgres({ maxConnections: 300 });
      started.push(pg);
      env.TEST_DATABASE_URL = pg.url('postgres');
      notes.push(`PostgreSQL: a private cluster for this run on 127.0.0.1:${pg.port} (TEST_DATABASE_URL was unset)`);
    } else notes.push('PostgreSQL: none (TEST_DATABASE_URL unset, no initdb): tests that need it skip, the rest use PGlite');
  } else notes.push('PostgreSQL: TEST_DATABASE_URL');
  if (!env.TEST_REDIS_URL) {
    if (privateRedisAvailable()) {
      const redis: PrivateRedis = await startPrivateRedis();
      started.push(redis);
      env.TEST_REDIS_URL = redis.url;
      notes.push(`Redis: a private redis-server for this run on 127.0.0.1:${redis.port} (TEST_REDIS_URL was unset)`);
    } else notes.push('Redis: none (TEST_REDIS_URL unset, no redis-server): tests that need it skip');
  } else notes.push('Redis: TEST_REDIS_URL');
}

async function disposeServices(): Promise<void> {
  await Promise.allSettled(started.splice(0).map((s) => s.dispose()));
}

// ---- one file -----------------------------------------------------------------------------------
interface Result {
  name: string;
  file: string;
  outcome: 'pass' | 'fail' | 'skip' | 'todo' | 'cancelled';
  reason?: string;
  suite?: boolean;
}

interface FileRun {
  file: string;
  code: number | null;
  timedOut: boolean;
  ms: number;
  results: Result[];
}

const resultsDir = mkdtempSync(join(tmpdir(), 'rampart-test-results-'));
const running = new Set<ReturnType<typeof spawn>>();

function runFile(file: string, index: number): Promise<FileRun> {
  const resultsPath = join(resultsDir, `${index}.jsonl`);
  const args = [
    '--import',
    'tsx',
    '--test',
    '--test-isolation=none',
    '--test-force-exit',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/test-results-reporter.mjs',
    `--test-reporter-destination=${resultsPath}`,
    ...nodeTestArgs,
    file,
  ];
  const begin = performance.now();
  return new Promise((resolve) => {
    // Its own process group, so that a deadline kills what the file started too.
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(deadline);
      running.delete(child);
      const ms = performance.now() - begin;
      process.stdout.write(`\n▶ ${file} (${(ms / 1000).toFixed(1)} s)\n${output}`);
      if (timedOut) process.stdout.write(`✖ ${file}: killed after ${FILE_TIMEOUT_MS / 1000} s (TEST_FILE_TIMEOUT_MS)\n`);
      const results = existsSync(resultsPath)
        ? readFileSync(resultsPath, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Result)
        : [];
      resolve({ file, code, timedOut, ms, results });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function runAll(): Promise<FileRun[]> {
  const queue = files.map((file, index) => ({ file, index }));
  const runs: FileRun[] = [];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) runs.push(await runFile(next.file, next.index));
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  return runs;
}

// ---- summary -----------------------------------------------------------------------------------
function summarize(runs: FileRun[], ms: number): number {
  const all = runs.flatMap((r) => r.results);
  const count = (o: Result['outcome']) => all.filter((r) => r.outcome === o && !(o === 'fail' && r.suite)).length;
  const pass = count('pass');
  const skipped = all.filter((r) => r.outcome === 'skip');
  // A file that exited non-zero (or timed out) without reporting a failed test failed all the same.
  const brokenFiles = runs.filter((r) => (r.code !== 0 || r.timedOut) && !r.results.some((x) => x.outcome === 'fail'));
  const fail = count('fail') + all.filter((r) => r.outcome === 'fail' && r.suite).length + brokenFiles.length;
  const cancelled = count('cancelled');
  const lines: string[] = ['', '══ summary ══', ...notes];
  if (skipped.length) {
    lines.push(`skipped (${skipped.length}):`);
    for (const s of skipped) lines.push(`  - ${relative('.', s.file ?? '')} › ${s.name}${s.suite ? ' (suite)' : ''}: ${s.reason || 'no reason given'}`);
  }
  const failed = all.filter((r) => r.outcome === 'fail' || r.outcome === 'cancelled');
  if (failed.length || brokenFiles.length) {
    lines.push('failed:');
    for (const f of failed) lines.push(`  ✖ ${relative('.', f.file ?? '')} › ${f.name}${f.outcome === 'cancelled' ? ' (cancelled)' : ''}`);
    for (const r of brokenFiles) lines.push(`  ✖ ${r.file}: ${r.timedOut ? `timed out after ${FILE_TIMEOUT_MS / 1000} s` : `exited with ${r.code}`}`);
  }
  const slowest = [...runs].sort((a, b) => b.ms - a.ms).slice(0, 5);
  lines.push(`slowest files: ${slowest.map((r) => `${relative('.', r.file)} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);
  lines.push(
    `# files ${runs.length}`,
    `# tests ${pass + count('fail') + cancelled + skipped.length + count('todo')}`,
    `# pass ${pass}`,
    `# fail ${fail}`,
    `# cancelled ${cancelled}`,
    `# skipped ${skipped.length}`,
    `# todo ${count('todo')}`,
    `# duration_ms ${Math.round(ms)}`,
    `${pass} passed, ${fail + cancelled} failed, ${skipped.length} skipped`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return fail + cancelled === 0 && pass > 0 ? 0 : 1;
}

// ---- main ---------------------------------------------------------------------------------------
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) killGroup(child.pid);
    void disposeServices().finally(() => process.exit(130));
  });
}

const begin = performance.now();
let exitCode = 1;
try {
  await provideServices();
  process.stdout.write(`${notes.join('\n')}\n${files.length} test files, ${CONCURRENCY} at a time\n`);
  exitCode = summarize(await runAll(), performance.now() - begin);
} finally {
  await disposeServices();
  rmSync(resultsDir, { recursive: true, force: true });
}
process.exit(exitCode);
