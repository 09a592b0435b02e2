import { CliError } from '../errors.js';

/**
 * `pgbackrest info --output=json`, reduced to what recovery needs: the backups (oldest first) and the
 * archived WAL range. https://pgbackrest.org/command.html#command-info
 */
export interface BackupInfo {
  label: string;
  type: 'full' | 'diff' | 'incr';
  startedAt: string;
  stoppedAt: string;
  /** First and last WAL segment the backup needs to be consistent. */
  walStart: string;
  walStop: string;
  sizeBytes: number;
  repoSizeBytes: number;
}

export interface StanzaInfo {
  stanza: string;
  /** pgBackRest's status: code 0 is ok; 1 missing stanza path; 2 no valid backups; … */
  status: { code: number; message: string };
  backups: BackupInfo[];
  archive: { min: string; max: string } | null;
}

interface RawBackup {
  label: string;
  type: string;
  timestamp: { start: number; stop: number };
  archive?: { start?: string | null; stop?: string | null };
  info?: { size?: number; repository?: { delta?: number; size?: number } };
}

interface RawStanza {
  name: string;
  status: { code: number; message: string };
  backup?: RawBackup[];
  archive?: { id: string; min?: string | null; max?: string | null }[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

export function parseStanzaInfo(json: string, stanza: string): StanzaInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new CliError('pgbackrest info did not print JSON', { code: 'pgbackrest_info_unreadable' });
  }
  if (!Array.isArray(parsed))
    throw new CliError('pgbackrest info: expected a list of stanzas', { code: 'pgbackrest_info_unreadable' });
  const raw = (parsed as RawStanza[]).find((s) => s?.name === stanza);
  if (!raw)
    throw new CliError(`pgbackrest info knows no stanza ${stanza}: run \`secops pitr setup\``, { code: 'stanza_missing' });
  const backups = (raw.backup ?? [])
    .map<BackupInfo>((b) => ({
      label: b.label,
      type: b.type === 'diff' || b.type === 'incr' ? b.type : 'full',
      startedAt: iso(b.timestamp.start),
      stoppedAt: iso(b.timestamp.stop),
      walStart: b.archive?.start ?? '',
      walStop: b.archive?.stop ?? '',
      sizeBytes: b.info?.size ?? 0,
      repoSizeBytes: b.info?.repository?.size ?? 0,
    }))
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  // One archive id per PostgreSQL version of the stanza (after an upgrade there are two): the widest range.
  const ranges = (raw.archive ?? []).filter((a) => a.min && a.max) as { min: string; max: string }[];
  const archive =
    ranges.length === 0
      ? null
      : {
          min: ranges.map((r) => r.min).sort()[0] as string,
          max: ranges
            .map((r) => r.max)
            .sort()
            .at(-1) as string,
        };
  return { stanza: raw.name, status: { code: raw.status.code, message: raw.status.message }, backups, archive };
}
