/**
 * The pgBackRest configuration `secops pitr setup` writes, and the server settings WAL archiving
 * needs. The repository passphrase lives in this file (mode 0600, owned by the cluster's OS user):
 * the server's own `archive-push`, started by PostgreSQL, must be able to read it too.
 */
export interface PitrLayout {
  stanza: string;
  repoPath: string;
  retentionFull: number;
  cipherPass: string;
  /** The server's data directory (pg1-path), its port and unix socket directory, read from the server. */
  dataDirectory: string;
  port: number;
  socketDirectory: string;
}

export function renderConfig(layout: PitrLayout): string {
  return [
    '# Written by `secops pitr setup`; edit the PITR_* settings and re-run it rather than this file.',
    '[global]',
    `repo1-path=${layout.repoPath}`,
    `repo1-retention-full=${layout.retentionFull}`,
    'repo1-cipher-type=aes-256-cbc',
    `repo1-cipher-pass=${layout.cipherPass}`,
    // A backup starts with an immediate checkpoint instead of waiting for the next scheduled one.
    'start-fast=y',
    'compress-type=lz4',
    'log-level-console=warn',
    'log-level-stderr=warn',
    // Written where the repository is, not /var/log/pgbackrest, which a container may lack.
    'log-level-file=off',
    `lock-path=${layout.repoPath}/lock`,
    '',
    `[${layout.stanza}]`,
    `pg1-path=${layout.dataDirectory}`,
    `pg1-port=${layout.port}`,
    `pg1-socket-path=${layout.socketDirectory}`,
    '',
  ].join('\n');
}

/** The archive_command line for postgresql.conf (the server runs it, on the database host). */
export function archiveCommandFor(configPath: string, stanza: string): string {
  return `pgbackrest --config=${configPath} --stanza=${stanza} archive-push %p`;
}

export interface ArchiveSettings {
  walLevel: string;
  archiveMode: string;
  archiveCommand: string;
  archiveTimeout: string;
}

/**
 * What is wrong with the server's archiving for this stanza, one line each; empty when nothing is.
 * (These settings take effect on the server only: they are checked, never changed, from here.)
 */
export function archiveProblems(settings: ArchiveSettings, configPath: string, stanza: string): string[] {
  const problems: string[] = [];
  if (!['replica', 'logical'].includes(settings.walLevel)) {
    problems.push(`wal_level is ${settings.walLevel}: WAL archiving needs replica (or logical); restart required`);
  }
  if (!['on', 'always'].includes(settings.archiveMode)) {
    problems.push(`archive_mode is ${settings.archiveMode}: it must be on (restart required)`);
  }
  const command = settings.archiveCommand.trim();
  if (!/\bpgbackrest\b/.test(command) || !/\barchive-push\b/.test(command)) {
    problems.push(
      `archive_command is ${command === '' ? 'empty' : `'${command}'`}: it must call pgbackrest archive-push (reload suffices)`,
    );
  } else {
    if (!new RegExp(`--stanza=${stanza}(\\s|$)`).test(command))
      problems.push(`archive_command '${command}' does not name --stanza=${stanza}`);
    if (!/%p/.test(command)) problems.push(`archive_command '${command}' does not pass the segment path %p`);
    const config = /--config=(\S+)/.exec(command)?.[1];
    if (config !== undefined ? config !== configPath : configPath !== '/etc/pgbackrest/pgbackrest.conf') {
      problems.push(
        `archive_command '${command}' reads ${config ?? 'the default /etc/pgbackrest/pgbackrest.conf'}, not ${configPath}`,
      );
    }
  }
  return problems;
}

/** The postgresql.conf lines that fix `archiveProblems` (archive_timeout bounds the RPO of a quiet server). */
export function postgresqlConfLines(configPath: string, stanza: string): string[] {
  return [
    'wal_level = replica',
    'archive_mode = on',
    `archive_command = '${archiveCommandFor(configPath, stanza)}'`,
    'archive_timeout = 60s',
  ];
}
