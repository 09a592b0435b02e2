import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CheckFailedError } from '../errors.js';
import { archiveCommandFor, archiveProblems, postgresqlConfLines, renderConfig } from './config-file.js';
import type { OsUser } from './exec.js';
import type { PgBackRest } from './pgbackrest.js';
import type { LiveServer } from './server.js';

/**
 * `secops pitr setup`: write the pgBackRest configuration (or leave it when it already says the same),
 * create the repository and the stanza, then check the server's archiving end to end (`pgbackrest
 * check` switches a WAL segment and waits for it in the repository). What the server must change is
 * reported with the exact postgresql.conf lines, never changed from here: archive_command runs on the
 * database server.
 */
export interface SetupOptions {
  configPath: string;
  stanza: string;
  repoPath: string;
  retentionFull: number;
  cipherPass: string;
  server: LiveServer;
  user: OsUser | undefined;
  pgbackrest: PgBackRest;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

export interface SetupResult {
  configPath: string;
  configWritten: boolean;
  stanza: string;
  repoPath: string;
  archiveCommand: string;
  checked: boolean;
}

export async function setupPitr(options: SetupOptions): Promise<SetupResult> {
  const own = (path: string) => options.user && chownSync(path, options.user.uid, options.user.gid);
  const config = renderConfig({
    stanza: options.stanza,
    repoPath: options.repoPath,
    retentionFull: options.retentionFull,
    cipherPass: options.cipherPass,
    dataDirectory: options.server.dataDirectory,
    port: options.server.port,
    socketDirectory: options.server.socketDirectory,
  });
  const configWritten = !existsSync(options.configPath) || readFileSync(options.configPath, 'utf8') !== config;
  if (configWritten) {
    mkdirSync(dirname(options.configPath), { recursive: true });
    // The passphrase is in it: readable by the cluster's owner only.
    writeFileSync(options.configPath, config, { mode: 0o600 });
    own(options.configPath);
  }
  if (!existsSync(options.repoPath)) {
    mkdirSync(options.repoPath, { recursive: true, mode: 0o750 });
    own(options.repoPath);
  }
  await options.step(`Creating stanza ${options.stanza} in ${options.repoPath} (pgbackrest stanza-create)`, () =>
    options.pgbackrest.run('stanza-create', [], { timeoutMs: 120_000 }),
  );
  const archiveCommand = archiveCommandFor(options.configPath, options.stanza);
  const problems = archiveProblems(options.server.archive, options.configPath, options.stanza);
  if (problems.length > 0) {
    throw new CheckFailedError(
      [
        `WAL archiving is not set up for stanza ${options.stanza} on the database server:`,
        ...problems.map((p) => `  - ${p}`),
        'Put these lines in the server’s postgresql.conf (or ALTER SYSTEM SET …), then restart it (archive_mode/wal_level) or reload (archive_command):',
        ...postgresqlConfLines(options.configPath, options.stanza).map((l) => `    ${l}`),
        `The configuration ${options.configPath} and the repository must exist on the database host, readable by its OS user; then re-run \`secops pitr setup\`.`,
      ].join('\n'),
    );
  }
  await options.step('Checking that the server archives WAL into the repository (pgbackrest check)', () =>
    options.pgbackrest.run('check', [], { timeoutMs: 180_000 }),
  );
  return {
    configPath: options.configPath,
    configWritten,
    stanza: options.stanza,
    repoPath: options.repoPath,
    archiveCommand,
    checked: true,
  };
}
