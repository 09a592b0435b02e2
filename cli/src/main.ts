import { Command, CommanderError, Option } from 'commander';
import { COMMAND_GROUPS } from './commands/index.js';
import { actionFactory, examples } from './lib/command-kit.js';
import { type CliIo, createContext, type DatabaseOpener, type GlobalOptions, processIo } from './lib/context.js';
import { EXIT, exitCodeFor, formatError } from './lib/errors.js';

/**
 * The CLI's composition root: the program, its global options and exit codes, and the command groups
 * of commands/index.ts. Each group's definition declares its commands and is imported only when the
 * command line names its group; the module that runs a command is imported only when it runs. So
 * `secops --help` loads commander and the list of groups only.
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

/**
 * The program. With `argv`, only the group the command line names is loaded and registered in full;
 * the others are listed by name and summary (what the top-level `--help` and commander's "did you
 * mean" need), so `secops --help` imports no group definition at all. Without `argv`, every group
 * is loaded (the tests walk every command).
 */
export async function buildProgram(io: CliIo, deps: ProgramDependencies = {}, argv?: readonly string[]): Promise<Command> {
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
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's defaults read process.stdout/stderr, which builds those streams (lib/stdio.ts).
      getOutHelpWidth: () => io.stdout.columns?.() ?? HELP_WIDTH,
      getErrHelpWidth: () => io.stderr.columns?.() ?? HELP_WIDTH,
      // secops styles no help text: there are no colours to keep, on a terminal or not.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .showHelpAfterError('(run with --help for usage)')
    .option('--json', 'machine-readable output: exactly one JSON document on stdout')
    .option(GLOBAL_VALUE_OPTION, 'PostgreSQL connection URL (overrides DATABASE_URL)')
    .addHelpText('after', `${examples('secops migrate status', 'secops --json migrate latest')}${EXIT_CODES}`);

  const action = actionFactory(context);
  const wanted = argv === undefined ? undefined : requestedGroup(argv);
  const loaded = await Promise.all(
    COMMAND_GROUPS.map((entry) => (argv === undefined || entry.name === wanted ? entry.load() : undefined)),
  );
  COMMAND_GROUPS.forEach((entry, i) => {
    const group = loaded[i];
    if (group) group.register(program, action);
    else {
      const listed = program.command(entry.name).description(entry.summary);
      // The listing shows `[options]` for a group whose top-level command has options of its own.
      if (entry.hasOptions) listed.addOption(new Option('--listed-only').hideHelp());
    }
  });
  return program;
}

/** Help's width off a terminal: commander's own default. */
const HELP_WIDTH = 80;

/** The global option that takes a value: its value is not a command name. */
const GLOBAL_VALUE_OPTION = '--database-url <url>';

/**
 * The group a command line names: its first word that is not an option (nor the value of
 * --database-url), or the word after `help`. Undefined when it names none (`secops --help`).
 */
export function requestedGroup(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return argv[i + 1];
    if (arg === '--database-url') {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (arg === 'help') return requestedGroup(argv.slice(i + 1));
    return arg;
  }
  return undefined;
}

/** Parses `argv` (user arguments only), runs the command and returns the process exit code. */
export async function main(
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = processIo(),
  deps: ProgramDependencies = {},
): Promise<number> {
  try {
    await (await buildProgram(io, deps, argv)).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // Commander has already printed its own message (and help, when asked for).
    if (!(err instanceof CommanderError)) io.stderr.write(`secops: ${formatError(err)}\n`);
    return exitCodeFor(err);
  }
}
