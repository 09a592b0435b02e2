import type { ArchiverSample } from './archiver.js';
import type { StanzaInfo } from './info.js';

/**
 * The span of time a restore can reach: from the end of the oldest kept backup (a restore needs a
 * backup that finished before its target, then replays archived WAL) to the newest archived WAL. A
 * target after `to` needs WAL that is not in the repository yet.
 */
export interface RecoverabilityWindow {
  /** When the oldest kept backup started and when it became consistent (the earliest reachable point). */
  oldestBackupStartedAt: string;
  from: string;
  /** When the newest WAL reached the repository (pg_stat_archiver.last_archived_time). */
  to: string;
  seconds: number;
  backups: number;
}

export function recoverabilityWindow(
  info: StanzaInfo,
  sample: Pick<ArchiverSample, 'lastArchivedAt'>,
): RecoverabilityWindow | null {
  const oldest = info.backups.find((b) => b.type === 'full');
  if (!oldest || info.archive === null || sample.lastArchivedAt === null) return null;
  const seconds = Math.max(0, (Date.parse(sample.lastArchivedAt) - Date.parse(oldest.stoppedAt)) / 1000);
  return {
    oldestBackupStartedAt: oldest.startedAt,
    from: oldest.stoppedAt,
    to: sample.lastArchivedAt,
    seconds: Math.round(seconds),
    backups: info.backups.length,
  };
}

/** Is `target` inside the window? A reason when it is not. */
export function outsideWindow(window: RecoverabilityWindow | null, target: Date): string | undefined {
  if (Number.isNaN(target.getTime())) return 'the restore point is not a valid time';
  if (window === null) return 'there is no recoverability window yet: take a full backup (`secops pitr backup --type full`)';
  if (target.getTime() < Date.parse(window.from))
    return `${target.toISOString()} is before the oldest backup finished (${window.from})`;
  if (target.getTime() > Date.parse(window.to)) return `${target.toISOString()} is after the newest archived WAL (${window.to})`;
  return undefined;
}
