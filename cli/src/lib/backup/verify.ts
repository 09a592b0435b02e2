import type { Manifest, TableStats } from './manifest.js';
import { withClient } from './restore.js';
import { listTables, migrationHead, PARALLEL_SETTINGS, STABLE_TEXT_SETTINGS, type TableInfo, tableStats } from './table-stats.js';

/**
 * Proves a restored database equal to the manifest of its backup: the same tables, each with the same
 * row count and ordered checksum, and the same migration head. Every difference is one line naming
 * the table, so an operator knows where to look.
 */

export interface TableCheck {
  name: string;
  expectedRows: number | null;
  rows: number | null;
  expectedChecksum: string | null;
  checksum: string | null;
  ok: boolean;
}

export interface Verification {
  tables: TableCheck[];
  migrationHead: { expected: string | null; actual: string | null; ok: boolean };
  failures: string[];
}

/**
 * Which tables' data a restore has committed so far: a drill verifies each one while the restore is
 * still building indexes and loading the others (restore.ts `onTableLoaded`). `end()` says the restore
 * has finished: every table is loaded then. `abort()` (the restore failed) stops verification taking
 * more tables.
 */
export class LoadedTables {
  readonly #loaded = new Set<string>();
  #ended = false;
  #aborted = false;
  #waiting: (() => void)[] = [];

  /** A restore that has already finished. */
  static finished(): LoadedTables {
    const tables = new LoadedTables();
    tables.end();
    return tables;
  }

  loaded(table: string): void {
    this.#loaded.add(table);
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  abort(): void {
    this.#aborted = true;
    this.end();
  }

  get ended(): boolean {
    return this.#ended;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  has(table: string): boolean {
    return this.#ended || this.#loaded.has(table);
  }

  /** Settles at the next table loaded, or at the end. */
  changed(): Promise<void> {
    return this.#ended ? Promise.resolve() : new Promise((resolve) => this.#waiting.push(resolve));
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }
}

/**
 * `exact`: tables absent from the manifest are failures too (a drill's fresh scratch database).
 * `loaded`: while a restore runs, which tables are ready (default: all, the restore has finished).
 */
export async function verifyAgainstManifest(
  url: string,
  manifest: Manifest,
  options: { jobs: number; exact: boolean; loaded?: LoadedTables },
): Promise<Verification> {
  const loaded = options.loaded ?? LoadedTables.finished();
  const measured = new Map<string, TableStats>();
  const bytes = new Map(manifest.tables.map((t) => [t.name, t.bytes]));
  // The tables present, listed once the restore has finished (a table never reported loaded is
  // measured only if it is there).
  let listing: Promise<TableInfo[]> | undefined;
  const present = () => {
    listing ??= withClient(url, listTables);
    return listing;
  };
  // Largest first among the tables loaded so far, over `jobs` connections; each table is one
  // autocommit statement (no lock is kept). Rows are ordered by the key the backup recorded: the
  // restored copy may not have its primary keys yet.
  const pending = manifest.tables
    .map((t) => ({ name: t.name, key: t.orderBy }))
    .sort((a, b) => (bytes.get(b.name) ?? 0) - (bytes.get(a.name) ?? 0));
  const take = async (): Promise<TableInfo | undefined> => {
    for (;;) {
      if (loaded.aborted) return undefined;
      if (loaded.ended) {
        const names = new Set((await present()).map((t) => t.name));
        const at = pending.findIndex((t) => names.has(t.name));
        return at < 0 ? undefined : pending.splice(at, 1)[0];
      }
      const at = pending.findIndex((t) => loaded.has(t.name));
      if (at >= 0) return pending.splice(at, 1)[0];
      await loaded.changed();
    }
  };
  const worker = () =>
    withClient(url, async (client) => {
      await client.query([...STABLE_TEXT_SETTINGS, ...PARALLEL_SETTINGS].join('; ')); // one round trip
      for (let table = await take(); table; table = await take())
        measured.set(table.name, await tableStats(client, table, manifest.checksumAlgorithm, { parallel: true }));
    });
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, pending.length)) }, worker));
  const tablesPresent = await present();
  const head = await withClient(url, migrationHead);

  const failures: string[] = [];
  const tables: TableCheck[] = manifest.tables.map((expected) => {
    const actual = measured.get(expected.name);
    const check: TableCheck = {
      name: expected.name,
      expectedRows: expected.rows,
      rows: actual?.rows ?? null,
      expectedChecksum: expected.checksum,
      checksum: actual?.checksum ?? null,
      ok: false,
    };
    if (!actual) failures.push(`table ${expected.name}: missing from the restored database`);
    else if (actual.rows !== expected.rows) failures.push(`table ${expected.name}: ${actual.rows} rows, the backup recorded ${expected.rows}`);
    else if (actual.checksum !== expected.checksum) failures.push(`table ${expected.name}: checksum differs (same row count, different contents)`);
    else check.ok = true;
    return check;
  });
  if (options.exact) {
    const expectedNames = new Set(manifest.tables.map((t) => t.name));
    for (const t of tablesPresent) if (!expectedNames.has(t.name)) failures.push(`table ${t.name}: present after restore but not in the backup`);
  }
  const headOk = head === manifest.migrationHead;
  if (!headOk) failures.push(`migration head: ${head ?? 'none'}, the backup recorded ${manifest.migrationHead ?? 'none'}`);
  return { tables, migrationHead: { expected: manifest.migrationHead, actual: head, ok: headOk }, failures };
}
