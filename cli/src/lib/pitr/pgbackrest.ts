import { requirePgBackRest } from './binaries.js';
import { execTool, type OsUser } from './exec.js';

/**
 * One pgBackRest invocation context: the binary, its configuration file, the stanza and the OS user
 * it runs as (the cluster's owner). The passphrase is in the configuration file, never in argv.
 */
export interface PgBackRest {
  run(command: string, args?: readonly string[], options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<string>;
  readonly configPath: string;
  readonly stanza: string;
}

const DEFAULT_TIMEOUT_MS = 60 * 60_000;

export function pgBackRest(options: {
  configPath: string;
  stanza: string;
  user: OsUser | undefined;
  env: Readonly<Record<string, string | undefined>>;
}): PgBackRest {
  const binary = requirePgBackRest(options.env);
  // Only what pgBackRest needs: a PGBACKREST_* variable in our environment would override the file.
  const env = { PATH: options.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
  return {
    configPath: options.configPath,
    stanza: options.stanza,
    async run(command, args = [], run = {}) {
      const { stdout } = await execTool(
        binary,
        [`--config=${options.configPath}`, `--stanza=${options.stanza}`, ...args, command],
        {
          env,
          user: options.user,
          signal: run.signal,
          timeoutMs: run.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        },
      );
      return stdout;
    },
  };
}
