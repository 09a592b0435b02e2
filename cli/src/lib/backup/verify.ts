import type { Manifest, TableStats } from './manifest.js';
import { withClient } from './restore.js';
import { listTables, migrationHead, STABLE_TEXT_SETTINGS, tableStats } from './table-stats.js';

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

/** `exact`: tables absent from the manifest are failures too (a drill's fresh scratch database). */
export async function verifyAgainstManifest(
  url: string,
  manifest: Manifest,
  options: { jobs: number; exact: boolean },
): Promise<Verification> {
  const present = await withClient(url, listTables);
  const head = await withClient(url, migrationHead);
  const byName = new Map(present.map((t) => [t.name, t]));
  const measured = new Map<string, TableStats>();
  const bytes = new Map(manifest.tables.map((t) => [t.name, t.bytes]));
  // Largest first, over `jobs` connections; each table is one autocommit statement (no lock is kept).
  // Rows are ordered by the key the backup recorded: the restored copy may not have its primary keys
  // yet (the drill verifies while post-data builds them).
  const queue = manifest.tables
    .filter((t) => byName.has(t.name))
    .map((t) => ({ name: t.name, key: t.orderBy }))
    .sort((a, b) => (bytes.get(b.name) ?? 0) - (bytes.get(a.name) ?? 0));
  const worker = () =>
    withClient(url, async (client) => {
      for (const sql of STABLE_TEXT_SETTINGS) await client.query(sql);
      for (let table = queue.shift(); table; table = queue.shift()) measured.set(table.name, await tableStats(client, table, manifest.checksumAlgorithm));
    });
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, queue.length)) }, worker));

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
    for (const t of present) if (!expectedNames.has(t.name)) failures.push(`table ${t.name}: present after restore but not in the backup`);
  }
  const headOk = head === manifest.migrationHead;
  if (!headOk) failures.push(`migration head: ${head ?? 'none'}, the backup recorded ${manifest.migrationHead ?? 'none'}`);
  return { tables, migrationHead: { expected: manifest.migrationHead, actual: head, ok: headOk }, failures };
}
