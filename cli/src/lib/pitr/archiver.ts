import type pg from 'pg';

/**
 * How far WAL archiving is behind, from the server's point of view (pg_stat_archiver and the current
 * WAL position). The bytes not yet archived are what a loss of the database server would lose: the RPO
 * of point-in-time recovery at this moment.
 */
export interface ArchiverSample {
  /** Server clock when sampled (ISO). */
  now: string;
  currentLsn: string;
  currentWalFile: string;
  walSegmentBytes: number;
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAt: string | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedAt: string | null;
}

export interface ArchiveLag {
  /** Seconds since the last successful archive (null: nothing was ever archived). */
  secondsSinceLastArchive: number | null;
  /** WAL written but not archived: from the end of the last archived segment to the current position. */
  unarchivedBytes: number | null;
  /** Complete segments waiting to be archived (the current, unfinished segment excluded). */
  pendingSegments: number | null;
  /** RPO estimate: 0 when nothing is waiting, else the seconds since the last archive. */
  lagSeconds: number | null;
  /** The newest failure is more recent than the newest success. */
  failing: boolean;
}

/** `16/B374D848` → its byte position. */
export function lsnToBytes(lsn: string): bigint {
  const m = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(lsn.trim());
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** `00000001000000160000000B` → segment number (timeline ignored), for segments of `segmentBytes`. */
export function walSegmentNumber(walFile: string, segmentBytes: number): bigint {
  const m = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})$/i.exec(walFile);
  if (!m) throw new Error(`not a WAL segment name: ${walFile}`);
  const perLogId = 0x1_0000_0000n / BigInt(segmentBytes);
  return BigInt(`0x${m[1]}`) * perLogId + BigInt(`0x${m[2]}`);
}

export function archiveLag(sample: ArchiverSample): ArchiveLag {
  const failing =
    sample.lastFailedAt !== null &&
    (sample.lastArchivedAt === null || Date.parse(sample.lastFailedAt) > Date.parse(sample.lastArchivedAt));
  const since =
    sample.lastArchivedAt === null
      ? null
      : Math.round(Math.max(0, Date.parse(sample.now) - Date.parse(sample.lastArchivedAt)) / 100) / 10;
  // The last archived file may be a segment, a backup label (`<segment>.<offset>.backup`, archived when a
  // backup stops: its segment may still be waiting) or a timeline history file (no position at all).
  const archived = /^([0-9A-F]{24})(\.[0-9A-F]{8}\.backup)?$/i.exec(sample.lastArchivedWal ?? '');
  if (since === null || !archived) {
    return { secondsSinceLastArchive: since, unarchivedBytes: null, pendingSegments: null, lagSeconds: null, failing };
  }
  const size = BigInt(sample.walSegmentBytes);
  const lastDone = walSegmentNumber(archived[1] as string, sample.walSegmentBytes) - (archived[2] ? 1n : 0n);
  const archivedEnd = (lastDone + 1n) * size;
  const current = lsnToBytes(sample.currentLsn);
  const unarchived = current > archivedEnd ? current - archivedEnd : 0n;
  const pending = walSegmentNumber(sample.currentWalFile, sample.walSegmentBytes) - (lastDone + 1n);
  return {
    secondsSinceLastArchive: since,
    unarchivedBytes: Number(unarchived),
    pendingSegments: Number(pending > 0n ? pending : 0n),
    lagSeconds: unarchived === 0n ? 0 : since,
    failing,
  };
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export async function sampleArchiver(client: pg.Client): Promise<ArchiverSample> {
  const { rows } = await client.query<{
    now: Date;
    lsn: string;
    walfile: string;
    seg: string;
    archived_count: string;
    last_archived_wal: string | null;
    last_archived_time: Date | null;
    failed_count: string;
    last_failed_wal: string | null;
    last_failed_time: Date | null;
  }>(
    `select clock_timestamp() as now, pg_current_wal_lsn()::text as lsn, pg_walfile_name(pg_current_wal_lsn()) as walfile,
            (select setting from pg_settings where name = 'wal_segment_size') as seg,
            a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count, a.last_failed_wal, a.last_failed_time
       from pg_stat_archiver a`,
  );
  const r = rows[0];
  if (!r) throw new Error('pg_stat_archiver returned no row');
  return {
    now: r.now.toISOString(),
    currentLsn: r.lsn,
    currentWalFile: r.walfile,
    walSegmentBytes: Number(r.seg),
    archivedCount: Number(r.archived_count),
    // pg_stat_archiver also counts .history and .backup files; only segments measure a position.
    lastArchivedWal: r.last_archived_wal,
    lastArchivedAt: iso(r.last_archived_time),
    failedCount: Number(r.failed_count),
    lastFailedWal: r.last_failed_wal,
    lastFailedAt: iso(r.last_failed_time),
  };
}
