import type pg from 'pg';
import { withSession } from '../../../../service/src/public/db.js';
import { CliError } from '../errors.js';
import type { ArchiveSettings } from './config-file.js';

/**
 * What pgBackRest needs to know about the live server, asked of the server itself: its data
 * directory, port and socket directory (pgBackRest runs on the database host and connects through
 * the socket), its major version, and its archiving settings. Reading data_directory needs a
 * superuser or pg_read_all_settings.
 */
export interface LiveServer {
  dataDirectory: string;
  port: number;
  socketDirectory: string;
  major: number;
  archive: ArchiveSettings;
}

export function withLive<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withSession(url, { applicationName: 'secops-pitr', connectTimeoutMs: 10_000 }, (s) => fn(s.client));
}

export async function readLiveServer(client: pg.Client): Promise<LiveServer> {
  const { rows } = await client.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings
      where name in ('data_directory', 'port', 'unix_socket_directories', 'server_version_num',
                     'wal_level', 'archive_mode', 'archive_command', 'archive_timeout')`,
  );
  const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  if (!s.data_directory) {
    throw new CliError(
      'the database role cannot read data_directory: run secops pitr as a superuser or grant it pg_read_all_settings',
      {
        code: 'pitr_privileges',
      },
    );
  }
  const socket = (s.unix_socket_directories ?? '')
    .split(',')
    .map((d) => d.trim())
    .find((d) => d.startsWith('/'));
  if (!socket)
    throw new CliError('the server has no unix socket directory; pgBackRest connects through one', { code: 'pitr_no_socket' });
  return {
    dataDirectory: s.data_directory,
    port: Number(s.port),
    socketDirectory: socket,
    major: Math.floor(Number(s.server_version_num) / 10_000),
    archive: {
      walLevel: s.wal_level ?? '',
      archiveMode: s.archive_mode ?? '',
      archiveCommand: s.archive_command ?? '',
      archiveTimeout: s.archive_timeout ?? '0',
    },
  };
}

/**
 * Closes the current WAL segment and waits (bounded) until the archiver has pushed it: everything
 * committed before this call is then in the repository. Returns the segment's name.
 */
export async function switchAndWaitArchived(client: pg.Client, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const { rows } = await client.query<{ wal: string }>('select pg_walfile_name(pg_switch_wal()) as wal');
  const wal = rows[0]?.wal as string;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    signal?.throwIfAborted();
    const state = await client.query<{ last: string | null; failed: string | null }>(
      'select last_archived_wal as last, last_failed_wal as failed from pg_stat_archiver',
    );
    const last = state.rows[0]?.last ?? '';
    if (/^[0-9A-F]{24}$/i.test(last.slice(0, 24)) && last.slice(0, 24) >= wal) return wal;
    // Polling the server's archiver: it signals nothing a client can wait on.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`WAL segment ${wal} was not archived within ${Math.round(timeoutMs / 1000)} s: run \`secops pitr status\``, {
    code: 'archive_timeout',
  });
}
