import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { type FailoverDrillReport, runFailoverDrill } from '../../cli/src/lib/failover/drill.js';
import { httpWriter } from '../../cli/src/lib/failover/http-writer.js';
import { main } from '../../cli/src/main.js';
import { captureIo } from '../cli/capture.js';
import { type PrivatePostgres, privatePostgresAvailable, startPrivatePostgres } from '../helpers/private-postgres.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { CHILD_ENV, call, newUser, PASSWORD, serviceEnv, waitFor } from './helpers/fault-traffic.js';

/**
 * The failover drill (docs/failover.md, issue 25): a PostgreSQL primary and a streaming replica
 * (private clusters, pg_basebackup), the service writing through its API, the primary stopped
 * (`-m immediate`: a crash), the replica promoted. The service reaches the new primary without a
 * restart because DATABASE_URL lists both servers with target_session_attrs=read-write
 * (service/src/platform/pg-hosts.ts). Measured and printed: writes acknowledged, writes lost, RTO and
 * the time from the promotion to the first write.
 *
 * For comparison, the other way to follow a promotion: DATABASE_URL_FILE rewritten and SIGHUP (the
 * connection-string reload, service/src/platform/database-url-reloader.ts).
 *
 * Asynchronous replication may lose the writes the replica had not received when the primary died —
 * and only those: each lost write must be on the old primary (restarted afterwards, on its own), so
 * it was acknowledged durably and lost only to the replication lag. Synchronous replication
 * (synchronous_standby_names) must lose none.
 */

const SERVICE_SETTINGS = { DB_ACQUIRE_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '2000', DB_POOL_MAX: '5' };
/** Writes acknowledged by the primary while the replica is frozen, before the crash (asynchronous drill). */
const LAG_WRITES = 20;
const DRILL = { concurrency: 4, pauseMs: 5, warmupMs: 2000, settleMs: 1000, recoveryTimeoutMs: 30_000 };

interface Pair {
  primary: PrivatePostgres;
  replica: PrivatePostgres;
  /** The replication link (primary → replica). */
  link: TcpProxy;
  /** Both servers, the libpq way: the service and the CLI use it as DATABASE_URL. */
  url: string;
}

async function startPair(t: TestContext, replication: 'asynchronous' | 'synchronous'): Promise<Pair> {
  privatePostgresAvailable();
  const primary = await startPrivatePostgres({
    settings: replication === 'synchronous' ? { synchronous_standby_names: "'*'" } : {},
  });
  t.after(() => primary.dispose());
  // Replication runs through a relay the test can hold (a lagging link).
  const link = await startTcpProxy({ port: primary.port });
  t.after(() => link.close());
  // The replica's copied postgresql.conf would make the promoted server wait for a standby it does not have.
  const replica = await startPrivatePostgres({ replicaOf: link, settings: { synchronous_standby_names: "''" } });
  t.after(() => replica.dispose());
  const expected = replication === 'synchronous' ? 'sync' : 'async';
  await waitFor(
    `the replica streaming (${expected})`,
    async () =>
      (await query(primary.url(), 'select sync_state from pg_stat_replication where state = $1', ['streaming'])).some(
        (r) => r.sync_state === expected,
      ),
    15_000,
  );
  return {
    primary,
    replica,
    link,
    url: `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${replica.port}/postgres?target_session_attrs=read-write`,
  };
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function heldBy(url: string, ids: readonly string[]): Promise<Set<string>> {
  const rows = await query(url, 'select id::text from conversations where id = any($1::uuid[])', [ids]);
  return new Set(rows.map((r) => r.id as string));
}

async function startService(t: TestContext, pair: Pair): Promise<ServiceProcess> {
  const service = await spawnService({ inherit: CHILD_ENV, env: serviceEnv({ ...SERVICE_SETTINGS, DATABASE_URL: pair.url }) });
  t.after(() => service.stop(5000));
  return service;
}

function printFigures(label: string, r: FailoverDrillReport): void {
  console.log(
    `failover drill (${label}): writes acknowledged ${r.writes.acknowledged} of ${r.writes.attempted}, lost ${r.writes.lost}, ` +
      `refused ${JSON.stringify(r.writes.refused)}; failing the primary took ${r.timing.failureMs} ms, promotion done at +${r.timing.promotionMs} ms; ` +
      `first write after the failure (RTO) ${r.timing.rtoMs} ms (${r.timing.rtoMs === null ? '?' : r.timing.rtoMs - r.timing.failureMs} ms after the primary was down), ` +
      `after the promotion ${r.timing.promotionToFirstWriteMs} ms`,
  );
}

describe('failover drill: primary stopped under write load, replica promoted, the service follows without a restart', () => {
  it('asynchronous replication with the replica lagging: the writes it had not received are lost, each one acknowledged durably by the old primary; writes resume on the promoted replica', async (t) => {
    const pair = await startPair(t, 'asynchronous');
    const service = await startService(t, pair);
    const user = await newUser(service.baseUrl, 'failover');
    const acknowledged: string[] = [];
    const writer = httpWriter(new URL(service.baseUrl), user.token, 3000);
    const report = await runFailoverDrill({
      ...DRILL,
      writer: {
        async write(n) {
          const r = await writer.write(n);
          if (r.ok) acknowledged.push(r.id);
          return r;
        },
      },
      actions: {
        // A lagging replica: the replication link holds while LAG_WRITES more writes are acknowledged, then the primary crashes.
        async fail() {
          const target = acknowledged.length + LAG_WRITES;
          pair.link.hold();
          await waitFor(`${LAG_WRITES} writes acknowledged while the replica lags`, () => acknowledged.length >= target, 10_000);
          await pair.primary.stop('immediate');
          await pair.link.close();
        },
        promote: () => pair.replica.promote(),
      },
      present: (ids) => heldBy(pair.replica.url(), ids),
    });
    printFigures('asynchronous', report);
    assert.equal(report.ok, true, report.problems.join('; '));
    assert.ok(report.writes.acknowledged > 0 && report.timing.rtoMs !== null && report.timing.promotionToFirstWriteMs !== null);
    assert.ok(report.writes.lost >= 1, 'the writes acknowledged while the replica lagged are lost');
    assert.ok(report.writes.lostIds.length === report.writes.lost, 'every lost id is listed (fewer than 1,000)');
    // Served by the new primary: readiness is back and a read sees the writes made after the promotion.
    assert.equal((await call(service.baseUrl, 'GET', '/readyz', { timeoutMs: 5000 })).status, 200);
    assert.equal((await call(service.baseUrl, 'GET', '/v1/me', { token: user.token, timeoutMs: 5000 })).status, 200);

    // The old primary, restarted on its own once the service has stopped (nothing else may write to it):
    // it holds every write it acknowledged, so a write missing on the new primary was lost to the lag only.
    await service.stop(5000);
    await pair.primary.start();
    const onOld = await heldBy(pair.primary.url(), report.writes.lostIds);
    assert.deepEqual(
      report.writes.lostIds.filter((id) => !onOld.has(id)),
      [],
      'a lost write was not on the old primary either: it was acknowledged without being durable',
    );
    const onNew = await heldBy(pair.replica.url(), acknowledged);
    assert.equal(acknowledged.length - onNew.size, report.writes.lost, 'the drill counted the lost writes right');
  });

  it('for comparison, a connection-string reload instead of multiple hosts: DATABASE_URL_FILE rewritten to the promoted server, then SIGHUP', async (t) => {
    const pair = await startPair(t, 'asynchronous');
    const dir = mkdtempSync(join(tmpdir(), 'rampart-failover-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const urlFile = join(dir, 'database-url');
    writeFileSync(urlFile, `${pair.primary.url()}\n`, { mode: 0o600 });
    const service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({ ...SERVICE_SETTINGS, DATABASE_URL_FILE: urlFile, DATABASE_URL_RELOAD_INTERVAL_SECONDS: '0' }),
    });
    t.after(() => service.stop(5000));
    const user = await newUser(service.baseUrl, 'failover-reload');
    const report = await runFailoverDrill({
      ...DRILL,
      writer: httpWriter(new URL(service.baseUrl), user.token, 3000),
      actions: {
        fail: () => pair.primary.stop('immediate'),
        // What an operator (or a failover hook) does: promote, point the secret at the new primary, signal.
        async promote() {
          await pair.replica.promote();
          writeFileSync(urlFile, `${pair.replica.url()}\n`, { mode: 0o600 });
          service.child.kill('SIGHUP');
        },
      },
      present: (ids) => heldBy(pair.replica.url(), ids),
    });
    printFigures('connection-string reload', report);
    assert.equal(report.ok, true, report.problems.join('; '));
    assert.ok(report.writes.acknowledged > 0 && report.timing.rtoMs !== null);
    assert.match(service.output(), /DATABASE_URL changed/);
    assert.doesNotMatch(
      service.output(),
      new RegExp(`127\\.0\\.0\\.1:${pair.replica.port}/postgres`),
      'the log names servers, never the connection string',
    );
  });

  it('synchronous replication, through `secops failover drill`: no acknowledged write lost; the drill deletes its writes', async (t) => {
    const pair = await startPair(t, 'synchronous');
    const service = await startService(t, pair);
    const user = await newUser(service.baseUrl, 'failover-cli');
    const captured = captureIo({ FAILOVER_DRILL_PASSWORD: PASSWORD });
    const code = await main(
      [
        '--json',
        '--database-url',
        pair.url,
        'failover',
        'drill',
        '--url',
        service.baseUrl,
        '--email',
        user.email,
        '--fail-command',
        pair.primary.pgCtlCommand('-m immediate stop'),
        '--promote-command',
        pair.replica.pgCtlCommand('promote'),
        '--rate',
        '400',
        '--concurrency',
        '4',
        '--warmup',
        '2s',
        '--settle',
        '1s',
        '--recovery-timeout',
        '30s',
        '--max-lost',
        '0',
      ],
      captured.io,
    );
    const result = JSON.parse(captured.stdout() || '{}') as FailoverDrillReport & {
      cleanup: { deleted: number; failed: number };
    };
    assert.equal(code, 0, `${captured.stderr()}\n${captured.stdout()}\n${service.output().slice(-2000)}`);
    printFigures('synchronous, secops failover drill', result);
    assert.equal(result.writes.lost, 0);
    assert.ok(result.writes.acknowledged > 0 && result.timing.rtoMs !== null);
    assert.ok(result.cleanup.deleted >= result.writes.acknowledged, 'every acknowledged write was deleted afterwards');
    assert.equal(result.cleanup.failed, 0);
    const left = await query(
      pair.replica.url(),
      "select count(*)::int as n from conversations where title like 'failover drill %'",
    );
    assert.equal(left[0]?.n, 0, 'the drill left no conversation behind');
    assert.doesNotMatch(captured.stdout() + captured.stderr(), new RegExp(PASSWORD), 'the password is never printed');
  });
});
