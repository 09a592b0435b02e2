import type { Database } from '../../../service/src/public/db.js';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { applyRoles, type RoleLayout } from '../lib/db-roles/apply.js';
import { checkRole, type RoleCheckReport } from '../lib/db-roles/check.js';
import { type RotationOptions, type RotationReport, rotatePassword } from '../lib/db-roles/rotate.js';
import { CheckFailedError, CliError, EXIT, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { openSecretStore } from '../lib/secrets.js';

/**
 * `secops db roles apply|check` and `secops db rotate-password`: least-privilege roles for the
 * service and alternating-user credential rotation. All of them talk to a real PostgreSQL as an
 * admin (--database-url / DATABASE_URL: a superuser, or a role with CREATEROLE for rotation).
 */

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

export type DbOptions =
  | ({ action: 'roles-apply' } & ApplyOptions)
  | ({ action: 'roles-check' } & CheckOptions)
  | ({ action: 'rotate-password' } & RotateOptions);

export interface DbDependencies {
  /** Replaces the secret store the rotation writes to (tests). */
  store?: SecretStore;
}

export async function run(options: DbOptions, ctx: CliContext, deps: DbDependencies = {}): Promise<unknown> {
  switch (options.action) {
    case 'roles-apply':
      return runRolesApply(options, ctx);
    case 'roles-check':
      return runRolesCheck(options, ctx);
    case 'rotate-password':
      return runRotatePassword(options, ctx, deps);
  }
}

async function openPostgres(ctx: CliContext): Promise<Database> {
  const db = await ctx.database();
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

async function runRolesApply({ action: _, ...options }: Extract<DbOptions, { action: 'roles-apply' }>, ctx: CliContext): Promise<ApplyResult> {
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

async function runRolesCheck(options: CheckOptions, ctx: CliContext): Promise<RoleCheckReport> {
  const out = createReporter(ctx);
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

async function runRotatePassword(options: RotateOptions, ctx: CliContext, deps: DbDependencies): Promise<RotationReport> {
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
