import type { Database } from '../../../service/src/public/db.js';
import type { CliConfig } from './config.js';
import { bothTerminals, stdioWriter } from './stdio.js';

/** Anything with `write`: the process's stdout in production (lib/stdio.ts), a string collector in tests. */
export interface Writer {
  write(chunk: string): unknown;
  /** The terminal's width when this writes to a terminal (help text wraps to it); else undefined. */
  columns?(): number | undefined;
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
  return {
    // `secops … | head` closes the pipe early: that is the reader's choice, not a failure to report.
    stdout: stdioWriter(1, { stream: () => process.stdout, onClosed: () => process.exit(0) }),
    // A closed stderr loses only diagnostics; the command goes on and its exit code still tells.
    stderr: stdioWriter(2, { stream: () => process.stderr, onClosed: () => {} }),
    env: process.env,
    isTTY: bothTerminals(),
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
