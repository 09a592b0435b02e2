import { createHash } from 'node:crypto';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { TableStats } from './manifest.js';

/**
 * What a backup promises about each table: its exact row count and a checksum of its rows, computed
 * on the source inside the dump's snapshot and again on a restored copy. Equal values prove the copy
 * holds the same rows with the same contents. The algorithm is recorded in the manifest:
 *
 * - `sha256-copy` (default) — SHA-256 of the table's `COPY … TO STDOUT (FORMAT binary)` stream, hashed by
 *   the client as it arrives; the row count is the COPY's own. The stream holds every row in physical
 *   order, and that order is what a dump and its restore share: pg_dump reads each table with one
 *   sequential scan from its first block (it turns `synchronize_seqscans` off for exactly this, "to
 *   prevent unpredictable changes in row ordering across a dump and reload"), and pg_restore loads the
 *   rows back with one COPY into a new heap, in that order. Both sides here scan the same way
 *   (STABLE_TEXT_SETTINGS turns synchronized scans off too; the source's scan runs in the dump's
 *   snapshot). So a restored copy hashes equal only if it holds the same rows, byte for byte, in the
 *   dump's order: a reordering is reported as a difference, never hidden. No digest per row and no
 *   sort: on 520 000 rows ~0.2 s of server time and ~0.2 s of client time, against ~0.9 CPU-seconds for
 *   `sha256-binary` (docs/performance.md, "Fifth session"). Needs what `sha256-binary` needs (built-in
 *   types only: binary arrays carry their element type's OID) and no partitioned table (COPY reads a
 *   partitioned table only through a query over its partitions, whose order a restore may change).
 * - `sha256-binary` (backups before issue 22's fifth session) — the same construction over every row's binary form (`record_send`, the
 *   wire format: each column's type OID, length and bytes) instead of its text: the rendering of every
 *   value as text was two thirds of the work, the binary form costs a third of it (on 520 000 rows, one
 *   process: ~0.7 s against ~1.2 s for the digests). Only for a database whose public tables use
 *   built-in types alone (BINARY_SAFE_QUERY): their OIDs and send formats are the same on every server,
 *   whereas a user-defined type gets a new OID in a restored copy. Such a database gets `sha256`.
 * - `sha256` — SHA-256 over the SHA-256 digests of every row's text, sorted by digest. Sorting
 *   the digests makes it independent of row order (no primary key needed, any plan on either side)
 *   while keeping a collision-resistant hash of the whole multiset: an order-free *sum* of row hashes
 *   (what `sum64` is) can be matched by someone who rewrites rows until their hashes add up
 *   (Wagner's generalised birthday attack), and MD5 collides on demand (issue 22). Row text is
 *   rendered under STABLE_TEXT_SETTINGS, so both sides agree across server versions too. It holds
 *   32 bytes a row in one aggregate: up to ~33 million rows a table (PostgreSQL's 1 GB value limit).
 * - `sum64` (backups before issue 22) — the exact sum of every row's 64-bit `hash_record_extended`.
 *   Fast, but 64 bits and additive: it detects accidents, not an attacker.
 * - `ordered` (backups before issue 22) — md5 over the concatenated md5 of each row's text, in
 *   primary-key order.
 *
 * Backups taken with the older two still verify: verification uses the manifest's algorithm.
 */

export type ChecksumAlgorithm = 'sha256-copy' | 'sha256-binary' | 'sha256' | 'sum64' | 'ordered';

export const CHECKSUM_ALGORITHMS = ['sha256-copy', 'sha256-binary', 'sha256', 'sum64', 'ordered'] as const satisfies readonly ChecksumAlgorithm[];

/**
 * `custom`: columns of the public tables whose type is not built in (OID ≥ 16384, FirstNormalObjectId),
 * nor an array of such a type: any makes the binary forms unusable, since they carry the OID.
 * `partitioned`: partitioned tables of the public schema (`sha256-copy` cannot use them).
 */
const BINARY_SAFE_QUERY = `
  select (select count(*)::int
            from pg_attribute a
            join pg_class c on c.oid = a.attrelid
            join pg_namespace n on n.oid = c.relnamespace
            join pg_type ty on ty.oid = a.atttypid
           where n.nspname = 'public' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
             and (ty.oid >= 16384 or ty.typelem >= 16384)) as custom,
         (select count(*)::int
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public' and c.relkind = 'p') as partitioned`;

/**
 * The algorithm a backup uses when `requested` is asked for: `sha256-copy` falls back to
 * `sha256-binary` when a table is partitioned, and both binary forms to `sha256` when a column has a
 * user-defined type.
 */
export async function usableChecksum(client: pg.ClientBase, requested: ChecksumAlgorithm): Promise<ChecksumAlgorithm> {
  if (requested !== 'sha256-copy' && requested !== 'sha256-binary') return requested;
  const { rows } = await client.query<{ custom: number; partitioned: number }>(BINARY_SAFE_QUERY);
  const { custom, partitioned } = rows[0] as { custom: number; partitioned: number };
  if (custom > 0) return 'sha256';
  return requested === 'sha256-copy' && partitioned > 0 ? 'sha256-binary' : requested;
}

/**
 * Row text depends on session settings (dates, time zones, bytea, floats): both sides set the same.
 * Everything here is SET LOCAL-free so it also works outside a transaction.
 */
export const STABLE_TEXT_SETTINGS = [
  "set client_encoding = 'UTF8'", // text in the binary form is sent in the client's encoding
  "set timezone = 'UTC'",
  "set datestyle = 'ISO, YMD'",
  "set intervalstyle = 'postgres'",
  "set bytea_output = 'hex'",
  'set extra_float_digits = 3',
  // A sequential scan starts at the table's first block, not where a concurrent one has got to:
  // `sha256-copy` hashes the rows in their physical order (pg_dump sets the same).
  'set synchronize_seqscans = off',
];

export interface TableInfo {
  name: string;
  /** Primary-key columns; empty when the table has none (rows are then ordered by their hash). */
  key: string[];
}

/** Every ordinary table of the public schema with its primary-key columns, by name. */
export async function listTables(client: pg.ClientBase): Promise<TableInfo[]> {
  const { rows } = await client.query<{ name: string; key: string[] | null }>(`
    select c.relname::text as name,
           (select array_agg(a.attname::text order by k.ord)
              from pg_index i
              cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
              join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
             where i.indrelid = c.oid and i.indisprimary) as key
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p')
     order by c.relname`);
  return rows.map((r) => ({ name: r.name, key: r.key ?? [] }));
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * `parallel`: the session lets PostgreSQL hash and sort the rows in parallel workers (PARALLEL_SETTINGS):
 * the row digests come out of the subquery already sorted, so the aggregate's own ORDER BY — which keeps
 * the result the same whatever the plan — finds them in order. On 520 000 rows: ~0.9 s against ~1.45 s.
 * For a restored copy (a drill, `backup restore`); a backup's source keeps its cores for the service.
 */
export async function tableStats(
  client: pg.ClientBase,
  table: TableInfo,
  algorithm: ChecksumAlgorithm,
  options: { parallel?: boolean } = {},
): Promise<TableStats> {
  if (algorithm === 'sha256-copy') return copyStats(client, table);
  const { rows } = await client.query<{ rows: string; checksum: string | null; bytes: string }>(
    tableStatsQuery(table, algorithm, options),
  );
  const row = rows[0] as { rows: string; checksum: string | null; bytes: string };
  return {
    name: table.name,
    rows: Number(row.rows),
    checksum: row.checksum ?? md5OfNothing,
    orderBy: table.key,
    bytes: Number(row.bytes),
  };
}

/** `sha256-copy`: the table's binary COPY stream, hashed as it arrives; its size is a second query. */
async function copyStats(client: pg.ClientBase, table: TableInfo): Promise<TableStats> {
  const t = ident(table.name);
  const stream = client.query(copyTo(`copy public.${t} to stdout (format binary)`));
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  const { rows } = await client.query<{ bytes: string }>(`select pg_total_relation_size($1::regclass) as bytes`, [`public.${t}`]);
  return { name: table.name, rows: stream.rowCount, checksum: hash.digest('hex'), orderBy: table.key, bytes: Number(rows[0]?.bytes) };
}

/** The statement tableStats runs for the other algorithms (exported for the tests, which look at its plan). */
export function tableStatsQuery(table: TableInfo, algorithm: Exclude<ChecksumAlgorithm, 'sha256-copy'>, options: { parallel?: boolean } = {}): string {
  const t = ident(table.name);
  return `select count(*) as rows, ${checksumExpression(table, algorithm)} as checksum,
            pg_total_relation_size('public.${t.replace(/'/g, "''")}') as bytes
       from ${rowSource(t, algorithm, options.parallel === true)}`;
}

/** The sha256 forms hash each row in a subquery (`d.h`, sorted there when parallel); the others read the table as `t`. */
function rowSource(t: string, algorithm: Exclude<ChecksumAlgorithm, 'sha256-copy'>, parallel: boolean): string {
  const row = algorithm === 'sha256' ? 'textsend(t::text)' : algorithm === 'sha256-binary' ? 'record_send(t)' : undefined;
  if (row === undefined) return `public.${t} t`;
  return `(select sha256(${row}) as h from public.${t} t${parallel ? ' order by 1' : ''}) d`;
}

/**
 * Planner settings under which a table's rows are hashed by parallel workers: PostgreSQL rates sha256()
 * as cheap as an operator and so never plans workers for it on its own.
 */
export const PARALLEL_SETTINGS = ['set parallel_setup_cost = 0', 'set parallel_tuple_cost = 0'];

function checksumExpression(table: TableInfo, algorithm: Exclude<ChecksumAlgorithm, 'sha256-copy'>): string {
  switch (algorithm) {
    case 'sha256':
    case 'sha256-binary':
      return "encode(sha256(string_agg(d.h, ''::bytea order by d.h)), 'hex')";
    case 'ordered': {
      const order = table.key.length > 0 ? table.key.map((c) => `t.${ident(c)}`).join(', ') : 'md5(t::text)';
      return `md5(string_agg(md5(t::text), '' order by ${order}))`;
    }
    case 'sum64':
      return 'sum(hash_record_extended(t, 0)::numeric)::text';
  }
}

/** The checksum of an empty table (every aggregate is null over no rows). */
const md5OfNothing = 'empty';

/** Stats of every table, one after another on one client (inside its snapshot when it has one). */
export async function allTableStats(
  client: pg.ClientBase,
  tables: readonly TableInfo[],
  algorithm: ChecksumAlgorithm,
): Promise<TableStats[]> {
  const stats: TableStats[] = [];
  for (const table of tables) stats.push(await tableStats(client, table, algorithm));
  return stats;
}

/** Name of the last applied migration, or null when the database has no knex_migrations table. */
export async function migrationHead(client: pg.ClientBase): Promise<string | null> {
  const { rows: exists } = await client.query<{ present: boolean }>(
    "select to_regclass('public.knex_migrations') is not null as present",
  );
  if (!exists[0]?.present) return null;
  const { rows } = await client.query<{ name: string }>('select name from public.knex_migrations order by id desc limit 1');
  return rows[0]?.name ?? null;
}
