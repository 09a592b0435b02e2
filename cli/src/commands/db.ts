import type { Database } from '../../../service/src/public/db.js';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { applyRoles, type RoleLayout } from '../lib/db-roles/apply.js';
import { checkRole, type RoleCheckReport } from '../lib/db-roles/check.js';
import { validateName } from '../lib/db-roles/identifiers.js';
import { DEFAULT_ROLES } from '../lib/db-roles/layout.js';
import { type RotationOptions, type RotationReport, rotatePassword } from '../lib/db-roles/rotate.js';
import { CheckFailedError, CliError, EXIT, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { openSecretStore } from '../lib/secrets.js';

/**
 * `secops db roles apply|check` and `secops db rotate-password`: least-privilege roles for the
 * service and alternating-user credential rotation. All of them talk to a real PostgreSQL as an
 * admin (--database-url / DATABASE_URL: a superuser, or a role with CREATEROLE for rotation).
 */

/** The flags as commander hands them over (strings). */
export interface RoleFlags {
  owner?: string;
  runtime?: string;
  users?: string;
  schema?: string;
  connectionLimit?: string;
}

export interface ApplyOptions extends RoleLayout {
  dryRun: boolean;
}

export interface CheckOptions {
  user?: string;
  runtime: string;
  schema: string;
}

/** The rotation's options, with the reference still as typed (parsed when the store is opened). */
export type RotateOptions = Omit<RotationOptions, 'ref' | 'step'> & { ref: string };

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
  const limitText = flags.connectionLimit ?? String(DEFAULT_ROLES.connectionLimit);
  const connectionLimit = Number(limitText);
  if (!/^\d+$/.test(limitText) || !Number.isSafeInteger(connectionLimit) || connectionLimit < 1 || connectionLimit > 10_000) {
    throw new UsageError(`--connection-limit must be a whole number from 1 to 10000 (got "${limitText}")`);
  }
  const names = [owner, runtime, ...users];
  if (new Set(names).size !== names.length) throw new UsageError('--owner, --runtime and --users must all be different roles');
  return { owner, runtime, users, schema, connectionLimit };
}

async function openPostgres(ctx: CliContext): Promise<Database> {
  const db = await ctx.openDatabase();
  if (db.kind !== 'postgres') {
    await db.close();
    throw new CliError(
      'database roles need PostgreSQL: set --database-url or DATABASE_URL (the configured database is the embedded PGlite)',
      {
        exitCode: EXIT.config,
        code: 'postgres_required',
      },
    );
  }
  return db;
}

export interface ApplyResult {
  database: DatabaseTarget;
  dryRun: boolean;
  layout: RoleLayout;
  statements: string[];
}

export async function applyCommand(options: ApplyOptions, ctx: CliContext): Promise<ApplyResult> {
  const out = createReporter(ctx);
  const db = await openPostgres(ctx);
  try {
    const database = describeTarget(db);
    out.line(`Database: ${formatTarget(database)}`);
    const { dryRun, ...layout } = options;
    const statements = await out.step(
      dryRun ? 'Planning the roles (dry run: nothing changes)' : 'Applying the roles in one transaction',
      () => applyRoles(db.knex, layout, { dryRun }),
    );
    const result: ApplyResult = { database, dryRun, layout, statements };
    out.json(result);
    if (dryRun) {
      out.line(`-- ${statements.length} statements would run in one transaction:`);
      for (const s of statements) out.line(`${s};`);
    } else {
      out.success(
        `Roles applied (${statements.length} statements): owner "${layout.owner}", runtime "${layout.runtime}", login users ${layout.users.map((u) => `"${u}"`).join(' and ')} (CONNECTION LIMIT ${layout.connectionLimit}, no password until \`secops db rotate-password\`)`,
      );
    }
    return result;
  } finally {
    await db.close();
  }
}

export async function checkCommand(options: CheckOptions, ctx: CliContext): Promise<RoleCheckReport> {
  const out = createReporter(ctx);
  if (options.user !== undefined) validateName(options.user, 'user name');
  validateName(options.runtime, 'runtime role');
  validateName(options.schema, 'schema');
  const db = await openPostgres(ctx);
  let report: RoleCheckReport;
  try {
    out.line(`Database: ${formatTarget(describeTarget(db))}`);
    report = await out.step('Checking the role’s privileges', () =>
      checkRole(db.knex, { user: options.user, runtime: options.runtime, schema: options.schema }),
    );
  } finally {
    await db.close();
  }
  out.json(report);
  out.line(`Role "${report.user}" against the runtime role "${options.runtime}":`);
  for (const c of report.checks) out.line(`  [${c.ok ? 'pass' : 'FAIL'}] ${c.id} — ${c.title}: ${c.detail}`);
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.id);
    throw new CheckFailedError(`role "${report.user}" has more (or less) than the runtime role allows: ${failed.join(', ')}`);
  }
  out.success(`"${report.user}" holds exactly the runtime privileges`);
  return report;
}

export async function rotateCommand(
  options: RotateOptions,
  ctx: CliContext,
  deps: { store?: SecretStore } = {},
): Promise<RotationReport> {
  const out = createReporter(ctx);
  const { store, ref } = await openSecretStore(ctx, options.ref, deps.store);
  // Refused before anything changes: the new URL could never be stored.
  if (ref.scheme === 'env') {
    throw new UsageError(
      `${ref.text} cannot be written: point --ref at the store the service reads (file:, vault://, aws-sm://, aws-ssm://)`,
    );
  }
  const db = await openPostgres(ctx);
  let report: RotationReport;
  try {
    out.line(`Database (admin): ${formatTarget(describeTarget(db))}`);
    report = await rotatePassword(db.knex, store, {
      ref,
      users: options.users,
      runtime: options.runtime,
      schema: options.schema,
      dryRun: options.dryRun,
      adopt: options.adopt,
      force: options.force,
      step: (label, fn) => out.step(label, fn),
    });
  } finally {
    await db.close();
  }
  out.json(report);
  if (report.dry_run) {
    out.line(
      `Dry run: would set a new password on "${report.active_user}", test a login, and write ${report.target} to ${report.ref}`,
    );
    out.line(
      `(stored version ${report.stored_version ?? 'none'}; "${report.previous_user}" stays valid until the next rotation). Nothing changed.`,
    );
  } else {
    out.success(
      `"${report.active_user}" is now active in ${report.ref} (version ${report.stored_version ?? 'n/a'}): ${report.target}`,
    );
    out.line(
      `"${report.previous_user}" keeps its password until the next rotation. Now roll the pods: kubectl rollout restart deployment/rampart`,
    );
  }
  return report;
}
