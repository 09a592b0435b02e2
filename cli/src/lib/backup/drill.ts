import { randomBytes } from 'node:crypto';
import { usableDrillTemplate } from '../db-roles/drill-template.js';
import { quoteIdent } from '../db-roles/identifiers.js';
import { formatAge } from '../duration.js';
import { BackupRefusedError } from './catalog.js';
import type { StoredBackup } from './manifest.js';
import { findTool, runTool, withDatabaseName } from './pg-tools.js';
import { pgRestore, plainDump, plainDumpLabel, tableDataItems, withClient } from './restore.js';
import { assertSafeBackup } from './safe-path.js';
import { LoadedTables, type TableCheck, verifyAgainstManifest } from './verify.js';

/**
 * A restore drill: restore a backup into a scratch database on the server, prove the copy equal to
 * the backup's manifest, measure how long recovery took (RTO) and how old the data is (RPO), and drop
 * the scratch database whatever happens. A backup that has never been restored is a hope, not a
 * backup.
 */

export interface DrillOptions {
  backup: StoredBackup;
  /** Any database on the server that will host the scratch copy (the configured DATABASE_URL). */
  serverUrl: string;
  key: Buffer | undefined;
  jobs: number;
  maxAgeMs: number;
  /** Clone the scratch database from this template if it exists (amcheck installed; see drill-template.ts). */
  template?: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  now?: () => Date;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

export interface DrillReport {
  ok: boolean;
  backup: { id: string; dir: string; createdAt: string; encrypted: boolean };
  scratchDatabase: string;
  scratchDropped: boolean;
  startedAt: string;
  finishedAt: string;
  /** Drill start → restored copy verified (seconds). */
  rtoSeconds: number | null;
  /** Age of the backup when the drill started (seconds). */
  rpoSeconds: number;
  maxAgeSeconds: number;
  totals: { tables: number; rows: number };
  tables: TableCheck[];
  migrationHead: { expected: string | null; actual: string | null; ok: boolean } | null;
  amcheck: { status: 'passed' | 'failed' | 'skipped'; detail?: string };
  smoke: { table: string; ok: boolean; error?: string }[];
  /**
   * filesMs: checking the dump files against the signed manifest — sizes, and each SHA-256 while the
   * file is copied privately when the backup is not encrypted; decryptMs: decrypting an encrypted
   * backup, each file's SHA-256 checked in the same read.
   */
  timings: { filesMs?: number; decryptMs: number; restoreMs: number; verifyMs: number; checksumMs?: number; amcheckMs?: number; dropMs?: number };
  failures: string[];
  /** Set when the backup's files do not match its signed manifest (nothing was restored): the refusal code. */
  refused?: string;
}

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const { manifest } = options.backup;
  assertSafeBackup(options.backup); // before the scratch database, the report or any file of the backup
  const scratch = `rampart_drill_${manifest.id.toLowerCase().replace(/[^a-z0-9]/g, '_')}_${randomBytes(3).toString('hex')}`;
  const scratchUrl = withDatabaseName(options.serverUrl, scratch);
  const rpoMs = started.getTime() - Date.parse(manifest.createdAt);
  const report: DrillReport = {
    ok: false,
    backup: { id: manifest.id, dir: options.backup.dir, createdAt: manifest.createdAt, encrypted: manifest.encryption !== null },
    scratchDatabase: scratch,
    scratchDropped: false,
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    rtoSeconds: null,
    rpoSeconds: Math.round(rpoMs / 1000),
    maxAgeSeconds: Math.round(options.maxAgeMs / 1000),
    totals: { tables: manifest.tables.length, rows: manifest.tables.reduce((n, t) => n + t.rows, 0) },
    tables: [],
    migrationHead: null,
    amcheck: { status: 'skipped' },
    smoke: [],
    timings: { decryptMs: 0, restoreMs: 0, verifyMs: 0 },
    failures: [],
  };
  if (rpoMs > options.maxAgeMs) {
    report.failures.push(`backup age: ${formatAge(rpoMs)} is older than the allowed ${formatAge(options.maxAgeMs)} (--max-age)`);
  }

  let created = false;
  let disposeDump: () => void = () => undefined;
  // The empty scratch database is created while the files are checked: nothing of the backup enters it
  // before the check has passed, and it is dropped below whatever happens.
  const creating = (async () => {
    const template = options.template ? await usableDrillTemplate(options.serverUrl, options.template) : undefined;
    await withClient(options.serverUrl, (c) => c.query(`create database "${scratch}"${template ? ` template ${quoteIdent(template)}` : ''}`));
    created = true;
    return template;
  })();
  creating.catch(() => undefined); // awaited below, or before the drop when the check fails first
  try {
    // Every file checked against the signed manifest and copied (or decrypted) privately before
    // pg_restore reads any of it: a refused backup leaves nothing behind, and each file is read once.
    const hashStarted = performance.now();
    // The table of contents is checked first: its listing (which table each TABLE DATA item loads, for
    // verifying each table as soon as it is loaded) runs while the data files are still being checked.
    let tableData: Promise<Map<string, string>> | undefined;
    const plain = await options.step(plainDumpLabel(manifest), () =>
      plainDump(options.backup, options.key, options.jobs, {
        onTocChecked: (dir) => {
          if (options.jobs < 2) return; // a serial restore reports no table as loaded
          tableData = tableDataItems(dir, options.env);
          tableData.catch(() => undefined); // awaited by pgRestore; a refusal meanwhile is not an unhandled one
        },
      }),
    );
    disposeDump = plain.dispose;
    report.timings.decryptMs = plain.decryptMs;
    report.timings.filesMs = Math.round(performance.now() - hashStarted) - plain.decryptMs;
    await options.step(`Creating scratch database ${scratch}${options.template ? ` (from template ${options.template} when usable)` : ''}`, () => creating);
    options.signal?.throwIfAborted();
    let t = performance.now();
    // One pg_restore with every section: its workers build one table's indexes while loading the next
    // table's data, which a restore split by section cannot do. Each table's rows are verified as soon
    // as its data is committed, while the restore goes on (its indexes use the other core).
    const loaded = new LoadedTables();
    const checksumsStarted = performance.now();
    const verifying = verifyAgainstManifest(scratchUrl, manifest, { jobs: options.jobs, exact: true, loaded }).then(
      (verification) => ({ verification, ms: Math.round(performance.now() - checksumsStarted) }),
    );
    verifying.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled one
    try {
      await options.step(`Restoring (pg_restore -j${options.jobs}) and verifying each table as it is loaded`, () =>
        pgRestore(plain.dir, {
          targetUrl: scratchUrl,
          jobs: options.jobs,
          noOwner: true,
          env: options.env,
          signal: options.signal,
          onTableLoaded: (table) => loaded.loaded(table),
          tableData,
        }),
      );
    } catch (err) {
      loaded.abort();
      await verifying.catch(() => undefined); // its sessions end before the scratch database is dropped
      throw err;
    }
    loaded.end();
    report.timings.restoreMs = Math.round(performance.now() - t);

    options.signal?.throwIfAborted();
    t = performance.now();
    await options.step('Verifying rows and checksums, pg_amcheck, a query on every table', async () => {
      const since = performance.now();
      const timedMs = async <T>(p: Promise<T>): Promise<[T, number]> => [await p, Math.round(performance.now() - since)];
      const [{ verification, ms: checksumMs }, [amcheck, amcheckMs], [smoke]] = await Promise.all([
        verifying,
        timedMs(amcheckScratch(scratch, scratchUrl, options)),
        timedMs(
          smokeQueries(
            scratchUrl,
            manifest.tables.map((x) => x.name),
          ),
        ),
      ]);
      report.timings.checksumMs = checksumMs;
      report.timings.amcheckMs = amcheckMs;
      report.tables = verification.tables;
      report.migrationHead = verification.migrationHead;
      report.failures.push(...verification.failures);
      report.amcheck = amcheck;
      report.smoke = smoke;
    });
    if (report.amcheck.status === 'failed') report.failures.push(`pg_amcheck: ${report.amcheck.detail}`);
    for (const s of report.smoke) if (!s.ok) report.failures.push(`table ${s.table}: smoke query failed: ${s.error}`);
    report.timings.verifyMs = Math.round(performance.now() - t);
    report.rtoSeconds = Math.round((performance.now() - t0) / 100) / 10;
  } catch (err) {
    if (err instanceof BackupRefusedError) report.refused = err.code;
    report.failures.push(options.signal?.aborted ? 'interrupted (SIGINT/SIGTERM)' : (err as Error).message);
  } finally {
    disposeDump();
    await creating.catch(() => undefined); // settled before deciding whether there is a database to drop
    if (created) {
      try {
        const dropStarted = performance.now();
        await withClient(options.serverUrl, (c) => c.query(`drop database if exists "${scratch}" with (force)`));
        report.timings.dropMs = Math.round(performance.now() - dropStarted);
        report.scratchDropped = true;
      } catch (err) {
        report.failures.push(`could not drop the scratch database ${scratch}: ${(err as Error).message}`);
      }
    }
  }
  report.finishedAt = now().toISOString();
  report.ok = report.failures.length === 0;
  return report;
}

async function amcheckScratch(scratch: string, scratchUrl: string, options: DrillOptions): Promise<DrillReport['amcheck']> {
  const tool = findTool('pg_amcheck', options.env);
  if (!tool) return { status: 'skipped', detail: 'pg_amcheck is not installed' };
  try {
    // B-tree indexes only: every heap row was already read and hashed by the checksum pass running
    // beside this one (a damaged heap tuple fails it), so verify_heapam would scan each table a
    // second time on the same cores for no new evidence about a copy that pg_restore just wrote.
    const args = [
      '--no-password',
      '--install-missing',
      '--no-strict-names',
      `--jobs=${options.jobs}`,
      '--index=public.*',
      scratch,
    ];
    await runTool(tool, args, {
      env: options.env,
      connection: scratchUrl,
      signal: options.signal,
    });
    return { status: 'passed' };
  } catch (err) {
    const message = (err as Error).message;
    // A drill role that is not a superuser cannot install the (untrusted) amcheck extension: without the
    // template database `secops db roles apply` prepares, the index check cannot run — said, not failed.
    if (/permission denied to create extension "amcheck"/.test(message)) {
      return {
        status: 'skipped',
        detail: `the drill's role may not install amcheck and no template database holds it: run \`secops db roles apply\` as a superuser (it prepares ${options.template ?? 'the drill template'})`,
      };
    }
    return { status: 'failed', detail: message };
  }
}

async function smokeQueries(url: string, tables: string[]): Promise<DrillReport['smoke']> {
  return withClient(url, async (client) => {
    const results: DrillReport['smoke'] = [];
    for (const table of tables) {
      try {
        await client.query(`select * from public."${table.replace(/"/g, '""')}" limit 1`);
        results.push({ table, ok: true });
      } catch (err) {
        results.push({ table, ok: false, error: (err as Error).message });
      }
    }
    return results;
  });
}
