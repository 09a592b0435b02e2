import type pg from 'pg';

/**
 * Marker rows the PITR drill writes into the live database, one transaction each, and looks for in
 * the restored copy. The table is the drill's own (`secops_pitr_markers`, created by the drill when
 * missing, not by a migration): the application never reads it, and a drill against a database whose
 * migrations are behind must still work. Each drill deletes its own rows when it ends.
 *
 * Times are microseconds since the epoch on the server's clock, the clock commit timestamps (and so
 * recovery_target_time) use.
 */
export const MARKER_TABLE = 'secops_pitr_markers';

export interface Marker {
  seq: number;
  /** clock_timestamp() inside the inserting transaction: before its commit. */
  writtenAtUs: number;
  /** clock_timestamp() read after the commit returned: at or after the commit timestamp. */
  committedByUs: number;
}

const US = `(extract(epoch from clock_timestamp()) * 1000000)::bigint::text`;

export async function ensureMarkerTable(client: pg.Client): Promise<void> {
  await client.query(
    `create table if not exists ${MARKER_TABLE} (
       drill_id text not null,
       seq integer not null,
       written_at timestamptz not null,
       primary key (drill_id, seq))`,
  );
}

export async function writeMarker(client: pg.Client, drillId: string, seq: number): Promise<Marker> {
  const inserted = await client.query<{ us: string }>(
    `insert into ${MARKER_TABLE} (drill_id, seq, written_at) values ($1, $2, clock_timestamp())
     returning (extract(epoch from written_at) * 1000000)::bigint::text as us`,
    [drillId, seq],
  );
  // Autocommit: the insert's answer arrives after its commit, so this clock reading is later than it.
  const after = await client.query<{ us: string }>(`select ${US} as us`);
  return { seq, writtenAtUs: Number(inserted.rows[0]?.us), committedByUs: Number(after.rows[0]?.us) };
}

export async function markersIn(client: pg.Client, drillId: string): Promise<number[]> {
  const exists = await client.query<{ t: string | null }>('select to_regclass($1)::text as t', [MARKER_TABLE]);
  if (exists.rows[0]?.t === null) return [];
  const { rows } = await client.query<{ seq: number }>(`select seq from ${MARKER_TABLE} where drill_id = $1 order by seq`, [
    drillId,
  ]);
  return rows.map((r) => r.seq);
}

export async function deleteMarkers(client: pg.Client, drillId: string): Promise<void> {
  await client.query(`delete from ${MARKER_TABLE} where drill_id = $1`, [drillId]);
}

export interface RestorePoint {
  /** Microseconds since the epoch; every marker up to `expected` committed at or before it, none after. */
  targetUs: number;
  expected: number[];
}

/**
 * A random point strictly between two consecutive markers — after marker i committed, before marker
 * i+1 was even written — so exactly markers 1…i must survive a restore to it. At least one marker lies
 * before it and at least one after. `random` returns [0, 1) (Math.random in production).
 */
export function pickRestorePoint(markers: readonly Marker[], random: () => number): RestorePoint {
  const sorted = [...markers].sort((a, b) => a.seq - b.seq);
  const gaps: { index: number; lo: number; hi: number }[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const lo = (sorted[i] as Marker).committedByUs;
    const hi = (sorted[i + 1] as Marker).writtenAtUs;
    if (hi - lo >= 2) gaps.push({ index: i, lo, hi });
  }
  const gap = gaps[Math.min(gaps.length - 1, Math.floor(random() * gaps.length))];
  if (!gap) throw new Error(`no gap between ${sorted.length} markers to restore into (need two markers written apart)`);
  const targetUs = gap.lo + Math.min(gap.hi - gap.lo - 1, Math.floor(random() * (gap.hi - gap.lo)));
  return { targetUs, expected: sorted.slice(0, gap.index + 1).map((m) => m.seq) };
}

/** Microseconds since the epoch → `2026-12-06 10:20:30.123456+00`, the form recovery_target_time takes. */
export function formatTargetTime(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // 2026-12-06T10:20:30.123Z
  const micros = String(us % 1_000_000).padStart(6, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros}+00`;
}
