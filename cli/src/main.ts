import { Command, CommanderError } from 'commander';
import { COMMAND_GROUPS } from './commands/index.js';
import { actionFactory, examples } from './lib/command-kit.js';
import { type CliIo, createContext, type DatabaseOpener, type GlobalOptions, processIo } from './lib/context.js';
import { EXIT, exitCodeFor, formatError } from './lib/errors.js';

/**
 * The CLI's composition root: the program, its global options and exit codes, and the command groups
 * of commands/index.ts. Each group's definition declares its commands; the module that runs one is
 * imported only when it runs, so `secops --help` loads commander and the definitions only.
 */

export interface ProgramDependencies {
  /** Replaces the configured database (tests hand in a throwaway one). */
  openDatabase?: DatabaseOpener;
}

const EXIT_CODES = `
Exit codes:
  0   success
  1   the operation failed, or a check did not pass
  2   usage error: unknown command or option, missing argument
  65  a backup failed its authentication (secops backup: signature, file hashes, id, date or chain)
  78  configuration error: the environment does not give a valid configuration

Database: --database-url, else DATABASE_URL (or DATABASE_URL_FILE, DATABASE_URL_REF), else the embedded PGlite under
DATA_DIR (default .data) — the same target the service uses. Prefer DATABASE_URL(_FILE) to
--database-url: command lines are visible to other users in the process list.`;

const configuredDatabase: DatabaseOpener = async (io, options) =>
  (await import('./lib/database.js')).openConfiguredDatabase(io, options);

export function buildProgram(io: CliIo, deps: ProgramDependencies = {}): Command {
  const openDatabase = deps.openDatabase ?? configuredDatabase;
  const context = (command: Command) => {
    const globals = command.optsWithGlobals<{ json?: boolean; databaseUrl?: string }>();
    const options: GlobalOptions = { json: globals.json === true, databaseUrl: globals.databaseUrl };
    return createContext(io, options, openDatabase);
  };

  // Settings made before `.command()` are inherited by every subcommand.
  const program = new Command('secops')
    .description('Operate Rampart: database migrations and the other day-2 tasks of the chat API.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .option('--json', 'machine-readable output: exactly one JSON document on stdout')
    .option('--database-url <url>', 'PostgreSQL connection URL (overrides DATABASE_URL)')
    .addHelpText('after', `${examples('secops migrate status', 'secops --json migrate latest')}${EXIT_CODES}`);

  const action = actionFactory(context);
  for (const group of COMMAND_GROUPS) group.register(program, action);

  return program;
}

/** Parses `argv` (user arguments only), runs the command and returns the process exit code. */
export async function main(
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = processIo(),
  deps: ProgramDependencies = {},
): Promise<number> {
  try {
    await buildProgram(io, deps).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // Commander has already printed its own message (and help, when asked for).
    if (!(err instanceof CommanderError)) io.stderr.write(`secops: ${formatError(err)}\n`);
    return exitCodeFor(err);
  }
}
