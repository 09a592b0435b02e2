import type { Command } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import { parseDuration } from '../lib/duration.js';
import type { MigrateOptions, RunSettings } from './migrate.js';

/** `secops migrate …`: apply, roll back or inspect the migrations (run: ./migrate.ts). */

const load = () => import('./migrate.js');

/** The flags latest/up/down/rollback share, as commander hands them over. */
interface RunFlags {
  dryRun?: boolean;
  lockTimeout: string;
  statementTimeout: string;
  allowModified?: boolean;
}

export function runSettings(flags: RunFlags): RunSettings {
  return {
    dryRun: flags.dryRun === true,
    timeouts: {
      lockTimeoutMs: parseDuration(flags.lockTimeout, '--lock-timeout'),
      statementTimeoutMs: parseDuration(flags.statementTimeout, '--statement-timeout'),
    },
  };
}

// latest/up/down/rollback share: --dry-run and the per-migration limits.
const migrationRun = (command: Command) =>
  command
    .option('--dry-run', 'print the SQL that would run; it runs inside a transaction that is rolled back')
    .option('--lock-timeout <duration>', 'lock_timeout inside each migration (0: none)', '5s')
    .option('--statement-timeout <duration>', 'statement_timeout inside each migration (0: none)', '15m');

const ALLOW_MODIFIED = ['--allow-modified', 'run even though an applied migration’s file changed since it was applied'] as const;

export const migrateGroup = defineGroup('migrate', (program, action) => {
  const migrate = program
    .command('migrate')
    .description('apply, roll back or inspect the database migrations (under the service’s advisory lock)')
    .addHelpText(
      'after',
      examples(
        'secops migrate status',
        'secops migrate latest --dry-run',
        'secops migrate latest',
        'secops migrate rollback',
        'secops migrate make add_message_tokens',
        'secops --json migrate status | jq .modified',
      ),
    );

  migrationRun(
    migrate
      .command('latest')
      .description('apply every pending migration; waits while another replica or secops run migrates')
      .option(...ALLOW_MODIFIED),
  )
    .addHelpText(
      'after',
      examples('secops migrate latest', 'secops migrate latest --dry-run', 'DATABASE_URL_FILE=/run/secrets/db-url secops migrate latest --json'),
    )
    .action(
      action<MigrateOptions, RunFlags>(load, ({ flags }) => ({ action: 'latest', allowModified: flags.allowModified === true, ...runSettings(flags) })),
    );

  migrationRun(migrate.command('up').description('apply the next pending migration only').option(...ALLOW_MODIFIED))
    .addHelpText('after', examples('secops migrate up', 'secops migrate up --dry-run'))
    .action(action<MigrateOptions, RunFlags>(load, ({ flags }) => ({ action: 'up', allowModified: flags.allowModified === true, ...runSettings(flags) })));

  migrationRun(migrate.command('down').description('roll back the last applied migration only'))
    .addHelpText('after', examples('secops migrate down --dry-run', 'secops migrate down'))
    .action(action<MigrateOptions, RunFlags>(load, ({ flags }) => ({ action: 'down', ...runSettings(flags) })));

  migrationRun(
    migrate
      .command('rollback')
      .description('roll back the last batch of migrations (every migration with --all)')
      .option('--all', 'roll back every applied migration, not just the last batch'),
  )
    .addHelpText('after', examples('secops migrate rollback', 'secops migrate rollback --dry-run', 'secops migrate rollback --all'))
    .action(
      action<MigrateOptions, RunFlags & { all?: boolean }>(load, ({ flags }) => ({ action: 'rollback', all: flags.all === true, ...runSettings(flags) })),
    );

  migrate
    .command('status')
    .description('list every migration as applied, pending or modified (checksums; read-only; exits 0)')
    .addHelpText('after', examples('secops migrate status', 'secops migrate status --json | jq .modified'))
    .action(action<MigrateOptions>(load, () => ({ action: 'status' })));

  migrate
    .command('make')
    .description('create migrations/<UTC timestamp>_<name>.ts from the up/down template')
    .argument('<name>', 'what the migration does, snake_case (kebab-case and camelCase are converted)')
    .option('--dir <dir>', 'where to write it (default: the repository’s migrations/)')
    .addHelpText('after', examples('secops migrate make add_message_tokens'))
    .action(action<MigrateOptions, { dir?: string }>(load, ({ flags, args }) => ({ action: 'make', name: args[0] as string, dir: flags.dir })));

  migrate
    .command('unlock')
    .description('clear a stale knex_migrations_lock row; report (or --terminate) the session holding the migration lock')
    .option('--terminate', 'pg_terminate_backend the session holding the migration advisory lock')
    .addHelpText('after', examples('secops migrate unlock', 'secops migrate unlock --terminate'))
    .action(action<MigrateOptions, { terminate?: boolean }>(load, ({ flags }) => ({ action: 'unlock', terminate: flags.terminate === true })));
});
