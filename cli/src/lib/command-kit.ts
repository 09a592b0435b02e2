import type { Command } from 'commander';
import type { CliContext } from './context.js';

/**
 * How a command group is declared. Each group has one definition module (`commands/<group>.command.ts`):
 * its commands, options, defaults and choices, and the parsing of commander's flags into the typed
 * options its `run(options, ctx)` takes. The module holding `run` is imported only when one of the
 * group's commands runs, so `secops --help` loads commander and the definitions only.
 */

/** What every command module exports: the one entry function, `run(options, ctx)`. */
export interface CommandModule<Options> {
  run(options: Options, ctx: CliContext): Promise<unknown>;
}

/** What `parse` sees: the flags (the command's own and the inherited group and global ones) and the arguments. */
export interface ParseInput<Flags> {
  readonly flags: Flags;
  /** The command's arguments in declaration order; an omitted optional one is undefined. */
  readonly args: readonly (string | undefined)[];
}

/**
 * Builds commander's action for one command: parse the flags into the command's typed options (a bad
 * value is a UsageError, exit 2, before anything is loaded or opened), import its module, run it.
 */
export type ActionFactory = <Options, Flags = Record<string, unknown>>(
  load: () => Promise<CommandModule<Options>>,
  parse: (input: ParseInput<Flags>) => Options,
) => (...commanderArgs: unknown[]) => Promise<void>;

export interface CommandGroup {
  /** The group's top-level command name, as typed: `secops <name> …`. */
  readonly name: string;
  /** Adds the group's commands to the program. */
  register(program: Command, action: ActionFactory): void;
}

export function defineGroup(name: string, register: CommandGroup['register']): CommandGroup {
  return Object.freeze({ name, register });
}

/** The action factory main.ts hands to every group; `contextFor` builds the command's context. */
export function actionFactory(contextFor: (command: Command) => CliContext): ActionFactory {
  return <Options, Flags>(load: () => Promise<CommandModule<Options>>, parse: (input: ParseInput<Flags>) => Options) =>
    async (...commanderArgs: unknown[]) => {
      // Commander calls an action with (...arguments, options, command).
      const command = commanderArgs[commanderArgs.length - 1] as Command;
      const options = parse({
        flags: command.optsWithGlobals<Flags & Record<string, unknown>>(),
        args: command.processedArgs as (string | undefined)[],
      });
      const module = await load();
      await module.run(options, contextFor(command));
    };
}

/** The "Examples:" block of a command's --help. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
