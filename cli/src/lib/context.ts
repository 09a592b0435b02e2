import type { Database } from '../../../service/src/public/db.js';
import type { CliConfig } from './config.js';

/** Anything with `write`: process.stdout in production, a string collector in tests. */
export interface Writer {
  write(chunk: string): unknown;
}

/** What the process gives the CLI; the only place that reads `process` is `processIo()`. */
export interface CliIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Both stdout and stderr are terminals: human output may use a spinner and colour. */
  readonly isTTY: boolean;
}

/** The options every command accepts (declared once on the program). */
export interface GlobalOptions {
  readonly json: boolean;
  /** Overrides DATABASE_URL; undefined → the environment's, else the embedded PGlite. */
  readonly databaseUrl: string | undefined;
}

/** Opens the target database. The caller owns the result and must close it. */
export type DatabaseOpener = (io: CliIo, options: GlobalOptions) => Promise<Database>;

/** Everything a command's `run(options, ctx)` may use; tests build one by hand. */
export interface CliContext extends CliIo {
  /** `--json`: exactly one JSON document on stdout, nothing else there. */
  readonly json: boolean;
  config(): Promise<CliConfig>;
  /** Opens the configured database; the caller owns it and must close it. */
  database(): Promise<Database>;
}

export function processIo(): CliIo {
  // `secops … | head` closes the pipe early: that is the reader's choice, not a failure to report.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    isTTY: Boolean(process.stdout.isTTY && process.stderr.isTTY),
  };
}

export function createContext(io: CliIo, options: GlobalOptions, openDatabase: DatabaseOpener): CliContext {
  return {
    ...io,
    json: options.json,
    // Imported when first asked for: `secops --help` and the commands that need no settings never load zod.
    config: async () => (await import('./config.js')).cliConfig(io.env, options.databaseUrl),
    database: () => openDatabase(io, options),
  };
}
