import type { Database } from '../../../service/src/public/db.js';
import type { SecretStore } from '../../../service/src/public/secrets.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { applyRoles, type RoleLayout } from '../lib/db-roles/apply.js';
import { checkRole, type RoleCheckReport } from '../lib/db-roles/check.js';
import { checkMaintenanceRole } from '../lib/db-roles/check-maintenance.js';
import type { RoleKind } from '../lib/db-roles/defaults.js';
import { type DrillTemplateResult, prepareDrillTemplate } from '../lib/db-roles/drill-template.js';
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
  /** The template database the drill clones (amcheck installed): see drill-template.ts. */
  drillTemplate: string;
  dryRun: boolean;
}

export interface CheckOptions {
  user?: string;
  /** Which workload's profile the role is held to. */
  kind: RoleKind;
  runtime: string;
  owner: string;
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
  drillTemplate: DrillTemplateResult;
}

async function runRolesApply(
  { action: _, ...options }: Extract<DbOptions, { action: 'roles-apply' }>,
  ctx: CliContext,
): Promise<ApplyResult> {
  const out = createReporter(ctx);
  const db = await openPostgres(ctx);
  try {
    const database = describeTarget(db);
    out.line(`Database: ${formatTarget(database)}`);
    const { dryRun, drillTemplate: template, ...layout } = options;
    const statements = await out.step(
      dryRun ? 'Planning the roles (dry run: nothing changes)' : 'Applying the roles in one transaction',
      () => applyRoles(db.knex, layout, { dryRun }),
    );
    const drillTemplate = await out.step(`${dryRun ? 'Planning' : 'Preparing'} the drill’s template database ${template}`, () =>
      prepareDrillTemplate(db.url as string, { template, drill: layout.drill }, { dryRun }),
    );
    const result: ApplyResult = { database, dryRun, layout, statements, drillTemplate };
    out.json(result);
    if (dryRun) {
      out.line(`-- ${statements.length} statements would run in one transaction:`);
      for (const s of statements) out.line(`${s};`);
      out.line(`-- then, for the drill's template database (outside a transaction):`);
      for (const s of drillTemplate.statements) out.line(s.startsWith('--') ? s : `${s};`);
    } else {
      const logins = [...layout.users, layout.migrator, layout.backup, layout.drill, layout.retention]
        .map((u) => `"${u}"`)
        .join(', ');
      out.success(
        `Roles applied (${statements.length} statements): owner "${layout.owner}", runtime "${layout.runtime}", login users ${logins} (CONNECTION LIMIT ${layout.connectionLimit}, no password until \`secops db rotate-password\`)`,
      );
    }
    if (drillTemplate.status === 'unavailable') {
      out.warn(
        `the drill's template database ${template} could not be prepared (${drillTemplate.detail}): the drill, run as "${layout.drill}", will skip its pg_amcheck index check. Re-run as a superuser (or a role that may CREATE EXTENSION amcheck) to prepare it.`,
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
    const { user, kind, schema } = options;
    report = await out.step('Checking the role’s privileges', () =>
      kind === 'runtime'
        ? checkRole(db.knex, { user, runtime: options.runtime, schema })
        : checkMaintenanceRole(db.knex, { user, kind, owner: options.owner, schema }),
    );
  } finally {
    await db.close();
  }
  const profile = options.kind === 'runtime' ? `the runtime role "${options.runtime}"` : `the ${options.kind} profile`;
  out.json({ ...report, as: options.kind });
  out.line(`Role "${report.user}" against ${profile}:`);
  for (const c of report.checks) out.line(`  [${c.ok ? 'pass' : 'FAIL'}] ${c.id} — ${c.title}: ${c.detail}`);
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.id);
    throw new CheckFailedError(`role "${report.user}" has more (or less) than ${profile} allows: ${failed.join(', ')}`);
  }
  out.success(`"${report.user}" holds exactly the ${options.kind} privileges`);
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
      ...(options.role === undefined ? {} : { role: options.role }),
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
      options.role === undefined
        ? `(stored version ${report.stored_version ?? 'none'}; "${report.previous_user}" stays valid until the next rotation). Nothing changed.`
        : `(stored version ${report.stored_version ?? 'none'}). Nothing changed.`,
    );
  } else {
    out.success(
      `"${report.active_user}" is now active in ${report.ref} (version ${report.stored_version ?? 'n/a'}): ${report.target}`,
    );
    out.line(
      options.role === undefined
        ? `"${report.previous_user}" keeps its password until the next rotation. Now roll the pods: kubectl rollout restart deployment/rampart`
        : `The old password of "${report.active_user}" no longer works. Sync the secret before its next Job: kubectl -n rampart annotate externalsecret rampart-secrets force-sync=$(date +%s) --overwrite`,
    );
  }
  return report;
}
