/**
 * npm run bench:backup — what `secops backup create` and `secops backup drill` cost next to the plain
 * tools they wrap, measured in the same run on a ~200 MB database: `pg_dump -Fd -j2` vs `backup create
 * --jobs 2` (adds the snapshot's counts and checksums), and `createdb + pg_restore -j2` vs `backup drill
 * --jobs 2` (adds verification, pg_amcheck and dropping the scratch database). Both sign or verify the
 * manifest and hash every dump file (SHA-256), as in production. Target: ratio ≤ 1.15.
 *
 * BENCH_DATABASE_URL / TEST_DATABASE_URL / DATABASE_URL names the server (a superuser there);
 * BENCH_ROUNDS (default 3) how many times each of the four runs is repeated;
 * BENCH_CHECKSUM (default sha256-copy, the default of `backup create`) the row checksum to measure with;
 * BENCH_MESSAGES sets the size (default 520 000 messages ≈ 200 MB). Everything created is dropped.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requireTool, runTool, withDatabaseName } from '../cli/src/lib/backup/pg-tools.js';
import { generateSigningKeyring } from '../cli/src/lib/backup/signing.js';
import { main } from '../cli/src/main.js';
import { createDatabase } from '../service/src/platform/db.js';
import { migrateLatest } from '../service/src/platform/migrations.js';
import { fmt, machineBusyMs, median, table } from './lib/stats.js';

const admin = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
if (!admin) throw new Error('bench:backup needs a PostgreSQL server: set BENCH_DATABASE_URL (or TEST_DATABASE_URL)');
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 520_000);
const JOBS = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** The row checksum `backup create` records (and the drill recomputes): the default sha256-copy, or sha256-binary / sha256 / sum64 / ordered. */
const CHECKSUM = process.env.BENCH_CHECKSUM ?? 'sha256-copy';
const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
const sourceName = `rampart_bench_backup_${tag}`;
const plainName = `rampart_bench_restore_${tag}`;
const sourceUrl = withDatabaseName(admin, sourceName);
const work = mkdtempSync(join(tmpdir(), 'rampart-bench-backup-'));
const env = { PATH: process.env.PATH ?? '' };
const signingKeyring = generateSigningKeyring('ed25519', 'bench');

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** The machine's busy CPU-seconds so far (bench/lib/stats.ts), or undefined where there is no /proc. */
function machineBusySeconds(): number | undefined {
  try {
    return machineBusyMs() / 1000;
  } catch {
    return undefined;
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; cpuSeconds: number | undefined; value: T }> {
  const busy = machineBusySeconds();
  const t = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t) / 1000;
  const after = machineBusySeconds();
  return { seconds, cpuSeconds: busy === undefined || after === undefined ? undefined : after - busy, value };
}

async function secops(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(['--json', ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    // Signed when taken, verified (signature, then every file's SHA-256) before the drill restores.
    env: { ...env, DATABASE_URL: sourceUrl, BACKUP_SIGNING_KEY: signingKeyring },
    isTTY: false,
  });
  if (code !== 0) throw new Error(`secops ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}

async function generate(): Promise<{ seconds: number; bytes: number }> {
  const t = performance.now();
  const db = createDatabase({ url: sourceUrl, poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 600_000 });
  try {
    await migrateLatest(db);
    const users = Math.max(1000, Math.round(MESSAGES / 40));
    const conversations = users * 4;
    await db.knex.raw(`insert into users (email, password_hash)
      select 'user' || g || '@bench.test', '$argon2id$v=19$m=19456,t=2,p=1$' || md5(g::text) || '$' || md5((-g)::text)
        from generate_series(1, ${users}) g`);
    await db.knex.raw(`insert into conversations (user_id, title)
      select u.id, 'conversation ' || g from users u cross join generate_series(1, 4) g`);
    // Spread the messages over the conversations; text that compresses about as well as prose does.
    await db.knex.raw(`insert into messages (conversation_id, role, content)
      select c.id, case when g % 2 = 0 then 'user' else 'assistant' end,
             'Message ' || g || ': ' || repeat(md5(c.id::text || g), 2) || ' lorem ipsum dolor sit amet consectetur ' || md5(g::text)
        from conversations c cross join generate_series(1, ${Math.ceil(MESSAGES / conversations)}) g`);
    await db.knex.raw(`insert into audit_events (type, user_id, ip, details)
      select 'login.succeeded', id, '203.0.113.7', jsonb_build_object('ua', 'bench') from users`);
    await db.knex.raw('vacuum analyze');
    const { rows } = await db.knex.raw('select pg_database_size(current_database())::bigint as bytes');
    return { seconds: (performance.now() - t) / 1000, bytes: Number(rows[0].bytes) };
  } finally {
    await db.close();
  }
}

try {
  await sql(admin, `create database ${sourceName}`);
  const generated = await generate();
  console.error(`generated ${(generated.bytes / 1048576).toFixed(0)} MB in ${fmt(generated.seconds)} s`);

  const pgDump = requireTool('pg_dump', env);
  const pgRestore = requireTool('pg_restore', env);
  const backupsDir = join(work, 'backups');
  mkdirSync(backupsDir);
  // The four runs alternate, ROUNDS times: on a shared machine one sample each would measure the
  // neighbours. Ratios are of medians (and of minimums, the least disturbed samples).
  const samples = { pgDump: [] as number[], create: [] as number[], pgRestore: [] as number[], drill: [] as number[] };
  // Machine CPU-seconds of each run, beside its wall time (undefined entries where there is no /proc).
  const cpu = { pgDump: [] as (number | undefined)[], create: [] as (number | undefined)[], pgRestore: [] as (number | undefined)[], drill: [] as (number | undefined)[] };
  let created: { dir: string; rows: number; dumpBytes: number; timings: unknown } | undefined;
  let drilled: { rtoSeconds: number; timings: unknown; amcheck: { status: string } } | undefined;
  for (let round = 0; round < ROUNDS; round += 1) {
    const plainDir = join(work, `plain-${round}`);
    const dump = await timed(() => runTool(pgDump, ['--format=directory', `--jobs=${JOBS}`, '--no-password', `--file=${plainDir}`], { env, connection: sourceUrl }));
    samples.pgDump.push(dump.seconds);
    cpu.pgDump.push(dump.cpuSeconds);
    const create = await timed(async () =>
      JSON.parse(await secops(['backup', 'create', '--dir', backupsDir, '--jobs', String(JOBS), '--checksum', CHECKSUM])),
    );
    samples.create.push(create.seconds);
    cpu.create.push(create.cpuSeconds);
    created = create.value;
    const restore = await timed(async () => {
      await sql(admin, `create database ${plainName}`);
      await runTool(pgRestore, ['--no-password', '--exit-on-error', '--no-owner', '--no-privileges', `--jobs=${JOBS}`, `--dbname=${plainName}`, plainDir], {
        env,
        connection: withDatabaseName(admin, plainName),
      });
    });
    samples.pgRestore.push(restore.seconds);
    cpu.pgRestore.push(restore.cpuSeconds);
    await sql(admin, `drop database ${plainName} with (force)`);
    const drill = await timed(async () =>
      JSON.parse(await secops(['backup', 'drill', '--from', (created as { dir: string }).dir, '--jobs', String(JOBS), '--max-age', '1h'])),
    );
    samples.drill.push(drill.seconds);
    cpu.drill.push(drill.cpuSeconds);
    drilled = drill.value;
    rmSync(plainDir, { recursive: true, force: true });
    rmSync(create.value.dir, { recursive: true, force: true });
  }
  const min = (xs: number[]) => Math.min(...xs);
  const cores = availableParallelism();
  const measured = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
  const pair = (plain: number[], ours: number[], plainCpu: (number | undefined)[], oursCpu: (number | undefined)[]) => {
    const pc = measured(plainCpu);
    const oc = measured(oursCpu);
    const cpuKnown = pc.length > 0 && oc.length > 0;
    return {
      plainSeconds: plain,
      secopsSeconds: ours,
      plainMedian: median(plain),
      secopsMedian: median(ours),
      ratio: median(ours) / median(plain),
      ratioOfMinimums: min(ours) / min(plain),
      // The machine's busy CPU-seconds in each run. `cpuFloorRatio` is the least the ratio could be on
      // this many cores: the secops run's CPU-seconds spread perfectly over every core, against the
      // plain run's wall time (≥ 1: the plain run's own time is the other bound). Work that must wait
      // for other work (a table's read-back for its load) keeps a real run above it.
      plainCpuSeconds: plainCpu,
      secopsCpuSeconds: oursCpu,
      plainCpuMedian: cpuKnown ? median(pc) : undefined,
      secopsCpuMedian: cpuKnown ? median(oc) : undefined,
      cpuFloorRatio: cpuKnown ? Math.max(1, median(oc) / cores / median(plain)) : undefined,
    };
  };
  const results = {
    at: new Date().toISOString(),
    databaseBytes: generated.bytes,
    generateSeconds: generated.seconds,
    rows: created?.rows,
    dumpBytes: created?.dumpBytes,
    jobs: JOBS,
    cores,
    rounds: ROUNDS,
    backup: { ...pair(samples.pgDump, samples.create, cpu.pgDump, cpu.create), lastTimings: created?.timings },
    restore: { ...pair(samples.pgRestore, samples.drill, cpu.pgRestore, cpu.drill), drillRtoSeconds: drilled?.rtoSeconds, lastDrillTimings: drilled?.timings, amcheck: drilled?.amcheck.status },
  };
  console.log(
    table(
      ['median of ' + ROUNDS, 'plain (s)', 'secops (s)', 'ratio', 'ratio of minimums', 'plain CPU (s)', 'secops CPU (s)', `floor on ${cores} cores`],
      (
        [
          ['backup: pg_dump -Fd -j2 vs backup create', results.backup],
          ['restore: createdb+pg_restore -j2 vs backup drill', results.restore],
        ] as const
      ).map(([label, r]) => [
        label,
        fmt(r.plainMedian, 2),
        fmt(r.secopsMedian, 2),
        fmt(r.ratio, 2),
        fmt(r.ratioOfMinimums, 2),
        r.plainCpuMedian === undefined ? '–' : fmt(r.plainCpuMedian, 2),
        r.secopsCpuMedian === undefined ? '–' : fmt(r.secopsCpuMedian, 2),
        r.cpuFloorRatio === undefined ? '–' : fmt(r.cpuFloorRatio, 2),
      ]),
    ),
  );
  console.log(
    `database ${(generated.bytes / 1048576).toFixed(0)} MB, ${results.rows} rows, dump ${((results.dumpBytes ?? 0) / 1048576).toFixed(0)} MB; drill RTO ${drilled?.rtoSeconds}s (amcheck ${drilled?.amcheck.status})`,
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/backup.json', `${JSON.stringify(results, null, 2)}\n`);
} finally {
  await sql(admin, `drop database if exists ${plainName} with (force)`).catch(() => undefined);
  await sql(admin, `drop database if exists ${sourceName} with (force)`).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
