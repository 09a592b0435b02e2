import type pg from 'pg';
import type { TableStats } from './manifest.js';

/**
 * What a backup promises about each table: its exact row count and a checksum of its rows, computed
 * on the source inside the dump's snapshot and again on a restored copy. Equal values prove the copy
 * holds the same rows with the same contents. Two algorithms, recorded in the manifest:
 *
 * - `ordered` — md5 over the concatenated md5 of each row's text, in primary-key order. Hashing each
 *   row first keeps the aggregate at 32 bytes a row (a plain `string_agg(t::text)` needs the whole
 *   table as one value, which fails past 1 GB).
 * - `sum64` (default) — the exact (numeric) sum of every row's 64-bit hash (`hash_record_extended`,
 *   the hash PostgreSQL uses to hash-partition by a composite; it hashes the columns' values with
 *   their types' hash functions, so no row is rendered to text). Every table has a primary key and a
 *   row includes it, so the set of rows already fixes their order: the sum detects the same changes
 *   (altered, missing, extra rows) without sort or md5. Measured on 500k rows: 117 ms against 305 ms
 *   for hashing each row's text and far more for `ordered` — the difference between `backup create`
 *   staying close to a plain pg_dump or not on a 2-core machine. Both sides run the same server
 *   major version in a drill; across majors use `ordered`.
 */

export type ChecksumAlgorithm = 'sum64' | 'ordered';

/**
 * Row text depends on session settings (dates, time zones, bytea, floats): both sides set the same.
 * Everything here is SET LOCAL-free so it also works outside a transaction.
 */
export const STABLE_TEXT_SETTINGS = [
  "set timezone = 'UTC'",
  "set datestyle = 'ISO, YMD'",
  "set intervalstyle = 'postgres'",
  "set bytea_output = 'hex'",
  'set extra_float_digits = 3',
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

export async function tableStats(client: pg.ClientBase, table: TableInfo, algorithm: ChecksumAlgorithm): Promise<TableStats> {
  const t = ident(table.name);
  const order = table.key.length > 0 ? table.key.map((c) => `t.${ident(c)}`).join(', ') : 'md5(t::text)';
  const checksum =
    algorithm === 'ordered'
      ? `md5(string_agg(md5(t::text), '' order by ${order}))`
      : 'sum(hash_record_extended(t, 0)::numeric)::text';
  const { rows } = await client.query<{ rows: string; checksum: string | null; bytes: string }>(
    `select count(*) as rows, ${checksum} as checksum,
            pg_total_relation_size('public.${t.replace(/'/g, "''")}') as bytes
       from public.${t} t`,
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

/** The checksum of an empty table (both aggregates are null over no rows). */
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
