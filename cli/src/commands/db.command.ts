import { type Command, Option } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import type { RoleLayout } from '../lib/db-roles/apply.js';
import { DEFAULT_ROLES, ROLE_KINDS, type RoleKind } from '../lib/db-roles/defaults.js';
import { validateName } from '../lib/db-roles/identifiers.js';
import { UsageError } from '../lib/errors.js';
import { wholeNumber } from '../lib/option-values.js';
import type { DbOptions } from './db.js';

/** `secops db roles apply|check`, `secops db rotate-password` (run: ./db.ts). */

const load = () => import('./db.js');

/** The flags as commander hands them over (strings). */
export interface RoleFlags {
  owner?: string;
  runtime?: string;
  users?: string;
  schema?: string;
  connectionLimit?: string;
  migrator?: string;
  backup?: string;
  drill?: string;
  retention?: string;
}

export function parseUsers(text: string | undefined): [string, string] {
  if (text === undefined) return [...DEFAULT_ROLES.users];
  const names = text.split(',').map((n) => n.trim());
  if (names.length !== 2 || names[0] === names[1])
    throw new UsageError('--users takes two different names: --users rampart_app_a,rampart_app_b');
  return [validateName(names[0] as string, 'user name'), validateName(names[1] as string, 'user name')];
}

export function layoutFromFlags(flags: RoleFlags): RoleLayout {
  const owner = validateName(flags.owner ?? DEFAULT_ROLES.owner, 'owner role');
  const runtime = validateName(flags.runtime ?? DEFAULT_ROLES.runtime, 'runtime role');
  const users = parseUsers(flags.users);
  const schema = validateName(flags.schema ?? DEFAULT_ROLES.schema, 'schema');
  const connectionLimit = wholeNumber(
    flags.connectionLimit ?? String(DEFAULT_ROLES.connectionLimit),
    '--connection-limit',
    1,
    10_000,
  );
  const migrator = validateName(flags.migrator ?? DEFAULT_ROLES.migrator, 'migrator role');
  const backup = validateName(flags.backup ?? DEFAULT_ROLES.backup, 'backup role');
  const drill = validateName(flags.drill ?? DEFAULT_ROLES.drill, 'drill role');
  const retention = validateName(flags.retention ?? DEFAULT_ROLES.retention, 'retention role');
  const names = [owner, runtime, ...users, migrator, backup, drill, retention];
  if (new Set(names).size !== names.length)
    throw new UsageError(
      '--owner, --runtime, --users, --migrator, --backup, --drill and --retention must all be different roles',
    );
  return { owner, runtime, users, migrator, backup, drill, retention, schema, connectionLimit };
}

const roleNames = (command: Command) =>
  command
    .option('--runtime <role>', 'NOLOGIN group role holding the service’s privileges', DEFAULT_ROLES.runtime)
    .option('--schema <schema>', 'the schema holding the app tables', DEFAULT_ROLES.schema);

interface RotateFlags {
  ref: string;
  users?: string;
  role?: string;
  adopt?: boolean;
  force?: boolean;
  dryRun?: boolean;
  runtime: string;
  schema: string;
}

export const dbGroup = defineGroup('db', (program, action) => {
  const db = program
    .command('db')
    .description('least-privilege database roles and alternating-user password rotation (connects as an admin)')
    .addHelpText(
      'after',
      examples(
        'secops db roles apply --dry-run',
        'secops db roles check --user rampart_app_a',
        'secops db rotate-password --ref file:/run/secrets/database-url',
      ),
    );
  const roles = db
    .command('roles')
    .description('create, update or verify the owner, runtime and login roles')
    .addHelpText('after', examples('secops db roles apply --dry-run', 'secops db roles apply', 'secops db roles check'));

  roleNames(
    roles
      .command('apply')
      .description(
        'idempotently create/update the owner and runtime roles, the two login users, and every grant, in one transaction',
      )
      .option('--owner <role>', 'NOLOGIN role owning the schema and tables (migrations run as a member)', DEFAULT_ROLES.owner)
      .option('--users <a,b>', 'the two LOGIN users that alternate on rotation', DEFAULT_ROLES.users.join(','))
      .option(
        '--migrator <role>',
        'LOGIN member of the owner role, acting as it: the migration Job’s credential',
        DEFAULT_ROLES.migrator,
      )
      .option(
        '--backup <role>',
        'LOGIN role with SELECT on every table and sequence: the backup Job’s credential',
        DEFAULT_ROLES.backup,
      )
      .option(
        '--drill <role>',
        'LOGIN CREATEDB role with no access to the app’s tables: the restore drill’s credential',
        DEFAULT_ROLES.drill,
      )
      .option(
        '--retention <role>',
        'LOGIN role with SELECT and DELETE on messages, conversations and audit_events only: the retention Job’s credential',
        DEFAULT_ROLES.retention,
      )
      .option(
        '--drill-template <database>',
        'template database holding amcheck, cloned by the drill (needs a superuser admin)',
        DEFAULT_ROLES.drillTemplate,
      )
      .option('--connection-limit <n>', 'CONNECTION LIMIT of each login user', String(DEFAULT_ROLES.connectionLimit))
      .option('--dry-run', 'print the SQL that would run; change nothing'),
  )
    .addHelpText(
      'after',
      `${examples(
        'secops db roles apply --dry-run',
        'DATABASE_URL_FILE=/run/secrets/admin-url secops db roles apply',
        'secops --json db roles apply --connection-limit 40 | jq .statements',
      )}Run it as a superuser, or as a CREATEROLE role that owns the database and tables (it then joins the owner role). A new login role has no password: give each one with \`secops db rotate-password --role <role> --ref …\` (the runtime pair: --users). See runbooks/secret-rotation.md.\n`,
    )
    .action(
      action<DbOptions, RoleFlags & { dryRun?: boolean; drillTemplate: string }>(load, ({ flags }) => ({
        action: 'roles-apply',
        ...layoutFromFlags(flags),
        drillTemplate: validateName(flags.drillTemplate, 'drill template database'),
        dryRun: flags.dryRun === true,
      })),
    );

  roleNames(
    roles
      .command('check')
      .description('verify a role holds what its workload needs and no more (the runtime role by default); exit 1 when not')
      .option('--user <role>', 'the role to check (default: the user of --database-url / DATABASE_URL)')
      .addOption(
        new Option(
          '--as <kind>',
          'the workload the role serves: the API (runtime), the migration Job, the backup Job, the drill or the retention Job',
        )
          .choices([...ROLE_KINDS])
          .default('runtime'),
      )
      .option('--owner <role>', 'the owner group (the migrator’s one membership)', DEFAULT_ROLES.owner),
  )
    .addHelpText(
      'after',
      examples(
        'DATABASE_URL_FILE=/run/secrets/database-url secops db roles check',
        'secops db roles check --user rampart_app_b',
        "secops --json db roles check | jq '.checks[] | select(.ok | not)'",
        'DATABASE_URL_FILE=/var/run/secrets/rampart/database-url secops db roles check --as backup',
        'secops db roles check --as migrator --user rampart_migrator',
      ),
    )
    .action(
      action<DbOptions, { user?: string; runtime: string; schema: string; as: RoleKind; owner: string }>(load, ({ flags }) => ({
        action: 'roles-check',
        user: flags.user === undefined ? undefined : validateName(flags.user, 'user name'),
        kind: flags.as,
        runtime: validateName(flags.runtime, 'runtime role'),
        owner: validateName(flags.owner, 'owner role'),
        schema: validateName(flags.schema, 'schema'),
      })),
    );

  roleNames(
    db
      .command('rotate-password')
      .description('give the inactive user of the pair a new password, test it, then switch the stored connection URL to it')
      .requiredOption(
        '--ref <reference>',
        'where the service reads DATABASE_URL (its DATABASE_URL_REF): file:…, vault://…, aws-sm://…, aws-ssm://…',
      )
      .option('--users <a,b>', 'the two LOGIN users that alternate', DEFAULT_ROLES.users.join(','))
      .option(
        '--role <role>',
        'instead of the pair: give this one login role (migrator, backup, drill, retention) a new password',
      )
      .option('--adopt', 'the stored user is not one of the pair: switch to the first user of the pair (first rotation)')
      .option('--force', 'rotate even while sessions of the inactive user are still open')
      .option('--dry-run', 'report the plan; change nothing'),
  )
    .addHelpText(
      'after',
      `${examples(
        'secops db rotate-password --ref file:/run/secrets/database-url --dry-run',
        'secops db rotate-password --ref vault://secret/rampart#database_url',
        'secops --json db rotate-password --ref aws-sm://rampart/prod#database_url',
        'secops db rotate-password --role rampart_backup --ref vault://secret/rampart#backup_database_url',
      )}With --role, force the ExternalSecret's sync before the next Job runs. For the pair, roll the pods (kubectl rollout restart deployment/rampart). Never prints the password. See runbooks/secret-rotation.md.\n`,
    )
    .action(
      action<DbOptions, RotateFlags>(load, ({ flags }) => ({
        action: 'rotate-password',
        ref: flags.ref,
        users: parseUsers(flags.users),
        ...(flags.role === undefined ? {} : { role: validateName(flags.role, 'role') }),
        runtime: validateName(flags.runtime, 'runtime role'),
        schema: validateName(flags.schema, 'schema'),
        dryRun: flags.dryRun === true,
        adopt: flags.adopt === true,
        force: flags.force === true,
      })),
    );
});
