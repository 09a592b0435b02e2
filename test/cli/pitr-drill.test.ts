import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { run } from '../../cli/src/commands/pitr.js';
import { createContext } from '../../cli/src/lib/context.js';
import { openConfiguredDatabase } from '../../cli/src/lib/database.js';
import { type CliError, UsageError } from '../../cli/src/lib/errors.js';
import type { ArchiveLag } from '../../cli/src/lib/pitr/archiver.js';
import { findPgBackRest } from '../../cli/src/lib/pitr/binaries.js';
import { type PitrDrillReport, runPitrDrill } from '../../cli/src/lib/pitr/drill.js';
import type { PitrOptions } from '../../cli/src/lib/pitr/options.js';
import { pgBackRest } from '../../cli/src/lib/pitr/pgbackrest.js';
import { freeLocalPort } from '../../cli/src/lib/pitr/scratch.js';
import { readLiveServer, switchAndWaitArchived, withLive } from '../../cli/src/lib/pitr/server.js';
import { openPitrSession } from '../../cli/src/lib/pitr/session.js';
import { targetTimeOption } from '../../cli/src/lib/pitr/target-time.js';
import { type PrivatePostgres, privatePostgresAvailable, runAs, startPrivatePostgres } from '../helpers/private-postgres.js';
import { REQUIRE_SERVICES } from '../helpers/services.js';
import { captureIo } from './capture.js';

/**
 * Point-in-time recovery end to end: a private PostgreSQL 15 archiving WAL (archive_timeout 1 s) into
 * an encrypted pgBackRest repository in a temp directory; `secops pitr setup` and a full backup; then,
 * under a steady write load, the drill writes markers and restores a moment between two of them into a
 * scratch cluster. pgBackRest missing skips it on a workstation and fails it in CI.
 */
const pgbackrest = findPgBackRest(process.env);
const skip =
  pgbackrest === undefined && !REQUIRE_SERVICES && !process.env.CI
    ? 'pgbackrest is not installed (apt-get install pgbackrest)'
    : !privatePostgresAvailable() && 'needs initdb/pg_ctl of PostgreSQL 15 (PG_BIN_DIR)';
const STANZA = 'rampart_test';
const PG_BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

describe('secops pitr against a private cluster archiving WAL', { skip, timeout: 180_000 }, () => {
  let cluster: PrivatePostgres;
  let dir: string;
  let env: Record<string, string | undefined>;

  const pitr = async (options: PitrOptions) => {
    const captured = captureIo(env);
    const ctx = createContext(captured.io, { json: true, databaseUrl: undefined }, openConfiguredDatabase);
    try {
      return { result: await run(options, ctx), stdout: captured.stdout(), stderr: captured.stderr() };
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstderr: ${captured.stderr()}`, { cause: err });
    }
  };

  before(async () => {
    assert.ok(pgbackrest, 'REQUIRE_SERVICES=1 or CI is set, but pgbackrest is not installed');
    dir = mkdtempSync(join(tmpdir(), 'rampart-pitr-test-'));
    const user = runAs();
    if (user) chownSync(dir, user.uid, user.gid);
    const config = join(dir, 'pgbackrest.conf');
    cluster = await startPrivatePostgres({
      settings: {
        wal_level: 'replica',
        archive_mode: 'on',
        archive_command: `'${pgbackrest} --config=${config} --stanza=${STANZA} archive-push %p'`,
        archive_timeout: "'1s'",
      },
    });
    env = {
      PATH: process.env.PATH,
      DATABASE_URL: cluster.url(),
      PITR_CONFIG: config,
      PITR_STANZA: STANZA,
      PITR_REPO_PATH: join(dir, 'repo'),
      PITR_REPO_CIPHER_PASS: 'test-passphrase-not-a-secret-0123456789',
    };
  });
  after(async () => {
    await cluster?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('setup creates the stanza and checks that the server archives into it; a full backup opens the window', async () => {
    const setup = (await pitr({ action: 'setup' })).result as { checked: boolean; configWritten: boolean };
    assert.equal(setup.checked, true);
    assert.equal(setup.configWritten, true);
    const backup = (await pitr({ action: 'backup', type: 'full' })).result as { backup: { type: string } | null };
    assert.equal(backup.backup?.type, 'full');
    assert.equal(statSync(env.PITR_CONFIG as string).mode & 0o777, 0o600, 'the configuration holds the passphrase');
    const info = pgBackRest({ configPath: env.PITR_CONFIG as string, stanza: STANZA, user: runAs(), env });
    const [stanza] = JSON.parse(await info.run('info', ['--output=json'])) as { cipher: string }[];
    assert.equal(stanza?.cipher, 'aes-256-cbc', 'the repository is encrypted');
  });

  it('under a steady write load, the drill restores a moment between two markers and finds exactly the earlier ones', async (t) => {
    const load = startWriteLoad(cluster.url());
    t.after(() => load.stop());
    const pushed: { method?: string; url?: string; body: string }[] = [];
    const pushgateway = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        pushed.push({ method: req.method, url: req.url, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => pushgateway.listen(0, '127.0.0.1', r));
    t.after(() => pushgateway.close());
    const { result } = await pitr({
      action: 'drill',
      markers: 4,
      markerIntervalMs: 400,
      timeoutMs: 60_000,
      random: () => 0.5,
      pushgateway: `http://127.0.0.1:${(pushgateway.address() as AddressInfo).port}`,
    });
    const report = result as PitrDrillReport;
    const status = (await pitr({ action: 'status' })).result as {
      lag: ArchiveLag;
      archiver: { lastArchivedWal: string | null; currentWalFile: string };
    };
    const line = `[pitr] drill target=${report.target} markers expected=${report.markers.expected.join(',')} found=${report.markers.found?.join(',')} rpo=${report.rpoSeconds}s rto=${report.rtoSeconds}s (restore ${report.timings.restoreMs} ms, replay ${report.timings.recoveryMs} ms) archive lag under load=${status.lag.lagSeconds}s unarchived=${status.lag.unarchivedBytes} B (${status.lag.pendingSegments} complete segments waiting; last archived ${status.archiver.lastArchivedWal}, writing ${status.archiver.currentWalFile}), load rows=${load.rows()}`;
    t.diagnostic(line);
    console.log(line);
    assert.equal(report.ok, true, report.failures.join('\n'));
    assert.deepEqual(report.markers.found, report.markers.expected);
    assert.ok(
      report.markers.expected.length >= 1 && report.markers.expected.length < report.markers.written,
      'a point with markers on both sides',
    );
    assert.ok(load.rows() > 0, 'the write load ran during the drill');
    assert.equal(load.error(), undefined);
    assert.equal(report.scratchRemoved, true);
    assert.ok(
      status.lag.lagSeconds !== null && status.lag.lagSeconds < 30,
      'archive_timeout 1 s keeps the lag of a busy server small',
    );
    assert.equal(status.lag.failing, false);
    assert.equal(pushed[0]?.method, 'POST');
    assert.equal(pushed[0]?.url, '/metrics/job/rampart_pitr_drill');
    assert.match(pushed[0]?.body ?? '', /^rampart_pitr_drill_last_result 1$/m);
    assert.match(pushed[0]?.body ?? '', /^rampart_pitr_drill_rto_seconds \d/m);
    assert.match(pushed[0]?.body ?? '', /^rampart_pitr_drill_window_seconds \d/m);
  });

  it('an interrupted drill still removes its scratch cluster and its markers, and fails', async (t) => {
    const scratchParent = mkdtempSync(join(tmpdir(), 'rampart-pitr-scratch-'));
    t.after(() => rmSync(scratchParent, { recursive: true, force: true }));
    const user = runAs();
    if (user) chownSync(scratchParent, user.uid, user.gid);
    const ctx = createContext(captureIo(env).io, { json: true, databaseUrl: undefined }, openConfiguredDatabase);
    const session = await openPitrSession(ctx, 'test');
    const controller = new AbortController();
    let scratchSeen = false;
    const report = await runPitrDrill({
      liveUrl: session.liveUrl,
      live: session.server,
      pgbackrest: session.pgbackrest,
      pgCtl: join(PG_BIN, 'pg_ctl'),
      user: session.user,
      scratchParent,
      port: await freeLocalPort(),
      markers: 2,
      markerIntervalMs: 50,
      timeoutMs: 60_000,
      signal: controller.signal,
      // Ctrl-C while the restored copy starts: its directory exists, its server is starting.
      step: async (label, fn) => {
        if (label.startsWith('Starting it')) {
          scratchSeen = readdirSync(scratchParent).length === 1;
          controller.abort();
        }
        return fn();
      },
    });
    assert.equal(report.ok, false);
    assert.match(report.failures.join('\n'), /interrupted/);
    assert.ok(scratchSeen, 'the scratch cluster existed when the drill was interrupted');
    assert.deepEqual(readdirSync(scratchParent), [], 'scratch cluster removed');
    assert.equal(report.scratchRemoved, true);
    const left = await withLive(
      cluster.url(),
      async (c) => (await c.query('select count(*)::int as n from secops_pitr_markers')).rows[0]?.n,
    );
    assert.equal(left, 0, 'the drill deleted its markers');
  });

  it('refuses to restore over the live data directory or onto the live port', async () => {
    const live = await withLive(cluster.url(), readLiveServer);
    await assert.rejects(
      pitr({ action: 'restore', to: { kind: 'latest' }, targetDir: live.dataDirectory, timeoutMs: 10_000 }),
      (err: Error) => err.cause instanceof UsageError && /live data directory/.test(err.message),
    );
    await assert.rejects(
      pitr({ action: 'restore', to: { kind: 'latest' }, targetDir: join(dir, 'never'), port: cluster.port, timeoutMs: 10_000 }),
      (err: Error) => err.cause instanceof UsageError && /live server listens/.test(err.message),
    );
  });

  it('restore --to a chosen moment brings back exactly the rows committed by then, in a scratch cluster', async (t) => {
    const chosen = await withLive(cluster.url(), async (client) => {
      await client.query('create table if not exists restore_probe (name text primary key)');
      await client.query("insert into restore_probe values ('before')");
      const { rows } = await client.query<{ at: string }>(
        'select to_char(clock_timestamp() at time zone \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') as at',
      );
      await client.query("insert into restore_probe values ('after')");
      await switchAndWaitArchived(client, 30_000);
      return rows[0]?.at as string;
    });
    const targetDir = join(dir, 'restored');
    const { result } = await pitr({
      action: 'restore',
      to: { kind: 'time', time: targetTimeOption(chosen) },
      targetDir,
      timeoutMs: 60_000,
    });
    const restored = result as { url: string; dataDir: string; rtoSeconds: number };
    t.after(() => stopScratch(restored.dataDir));
    const names = await withLive(
      restored.url,
      async (c) => (await c.query<{ name: string }>('select name from restore_probe order by name')).rows,
    );
    t.diagnostic(`[pitr] restore --to ${chosen}: rto=${restored.rtoSeconds}s rows=${names.map((r) => r.name).join(',')}`);
    assert.deepEqual(
      names.map((r) => r.name),
      ['before'],
    );
  });
});

describe('secops pitr setup against a server that does not archive', { skip, timeout: 60_000 }, () => {
  let cluster: PrivatePostgres;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-pitr-noarchive-'));
    const user = runAs();
    if (user) chownSync(dir, user.uid, user.gid);
    cluster = await startPrivatePostgres({ settings: { wal_level: 'minimal', max_wal_senders: '0' } });
  });
  after(async () => {
    await cluster?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names what is wrong and prints the postgresql.conf lines to put on the database server (exit 1)', async () => {
    const config = join(dir, 'pgbackrest.conf');
    const captured = captureIo({
      PATH: process.env.PATH,
      DATABASE_URL: cluster.url(),
      PITR_CONFIG: config,
      PITR_STANZA: STANZA,
      PITR_REPO_PATH: join(dir, 'repo'),
      PITR_REPO_CIPHER_PASS: 'test-passphrase-not-a-secret-0123456789',
    });
    const ctx = createContext(captured.io, { json: false, databaseUrl: undefined }, openConfiguredDatabase);
    const err = await run({ action: 'setup' }, ctx).then(
      () => assert.fail('setup passed against a server that does not archive'),
      (e: CliError) => e,
    );
    assert.equal(err.exitCode, 1);
    assert.match(err.message, /wal_level is minimal/);
    assert.match(err.message, /archive_mode is off: it must be on/);
    assert.match(err.message, /archive_command is empty|archive_command is '\(disabled\)'/);
    assert.ok(
      err.message.includes(`archive_command = 'pgbackrest --config=${config} --stanza=${STANZA} archive-push %p'`),
      err.message,
    );
  });
});

/** Stops a cluster `secops pitr restore` left running (as the cluster's OS user) and removes it. */
function stopScratch(dataDir: string) {
  spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], {
    timeout: 40_000,
    ...runAs(),
  });
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
}

/** Inserts one row after another until stopped: WAL keeps flowing while the drill runs. */
function startWriteLoad(url: string) {
  const client = new pg.Client({ connectionString: url });
  let stopped = false;
  let rows = 0;
  let failure: Error | undefined;
  const done = (async () => {
    await client.connect();
    await client.query('create table if not exists write_load (id bigserial primary key, body text not null)');
    while (!stopped) {
      await client.query("insert into write_load (body) values (repeat('x', 200))");
      rows += 1;
    }
  })()
    .catch((err: Error) => {
      if (!stopped) failure = err;
    })
    .finally(() => client.end().catch(() => undefined));
  return {
    rows: () => rows,
    error: () => failure,
    async stop() {
      stopped = true;
      await done;
    },
  };
}
