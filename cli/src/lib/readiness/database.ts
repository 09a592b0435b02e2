import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../../../../service/src/public/db.js';
import { readMigrationState } from '../../../../service/src/public/db.js';
import { listBackups } from '../backup/manifest.js';
import { checkRole } from '../db-roles/check.js';
import { DEFAULT_ROLES } from '../db-roles/layout.js';
import { formatAge } from '../duration.js';
import type { CheckResult } from './http.js';
import { mailOutboxDatabaseCheck } from './mail.js';
import { argon2Check, indexesCheck, retentionCheck } from './stored-data.js';

/** The database tier's checks (it also refines mail.outbox, listed with the read-only tier). */
export const DATABASE_CHECK_IDS = ['db.role', 'db.migrations', 'db.indexes', 'db.argon2', 'db.retention'] as const;

export const ROLE_TITLE =
  'Dedicated least-privilege DB user (secops db roles check: not superuser, no DDL, audit_events append-only, connection limit)';
export const MIGRATIONS_TITLE = 'Migrations up to date (none pending, modified or missing)';
/** The retention job's 90 days (k8s/base/cronjob-retention.yaml) plus a day for its schedule. */
export const DEFAULT_RETENTION_MAX_AGE_MS = 91 * 86_400_000;
export const DRILL_TITLE = 'Automated backups: last restore drill recent and passed';

/**
 * The configured role's privileges, the migration state and the mail outbox; read-only. The command
 * places these after the HTTP checks, so this mail.outbox (the table's own view) replaces the one the
 * metrics gave.
 */
export async function databaseChecks(
  db: Database,
  roles: { runtime: string; schema: string } = { runtime: DEFAULT_ROLES.runtime, schema: DEFAULT_ROLES.schema },
  retentionMaxAgeMs = DEFAULT_RETENTION_MAX_AGE_MS,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    // The same checks as `secops db roles check`, as one evidence item.
    const report = await checkRole(db.knex, { runtime: roles.runtime, schema: roles.schema });
    const failed = report.checks.filter((c) => !c.ok);
    results.push({
      id: 'db.role',
      title: ROLE_TITLE,
      status: report.ok ? 'passed' : 'failed',
      evidence: report.ok
        ? `role "${report.user}": all ${report.checks.length} checks of \`secops db roles check\` pass (runtime role "${roles.runtime}")`
        : `role "${report.user}": ${failed.map((c) => `${c.id}: ${c.detail}`).join(' | ')}`,
    });
  } catch (err) {
    results.push({ id: 'db.role', title: ROLE_TITLE, status: 'failed', evidence: `query failed: ${(err as Error).message}` });
  }
  try {
    const state = await readMigrationState(db.knex);
    const problems = [
      state.pending.length > 0 && `pending: ${state.pending.join(', ')}`,
      state.modified.length > 0 && `modified since applied: ${state.modified.join(', ')}`,
      state.missing.length > 0 && `applied but missing: ${state.missing.join(', ')}`,
    ].filter(Boolean);
    const head = state.applied.at(-1)?.name ?? 'none';
    results.push({
      id: 'db.migrations',
      title: MIGRATIONS_TITLE,
      status: problems.length === 0 && state.applied.length > 0 ? 'passed' : 'failed',
      evidence:
        problems.length > 0
          ? problems.join('; ')
          : state.applied.length === 0
            ? 'no migration applied'
            : `${state.applied.length} applied, head ${head}${state.unrecorded.length > 0 ? ` (${state.unrecorded.length} without checksum)` : ''}`,
    });
  } catch (err) {
    results.push({
      id: 'db.migrations',
      title: MIGRATIONS_TITLE,
      status: 'failed',
      evidence: `could not read migration state: ${(err as Error).message}`,
    });
  }
  results.push(await mailOutboxDatabaseCheck(db));
  results.push(await indexesCheck(db.knex), await argon2Check(db.knex), await retentionCheck(db.knex, retentionMaxAgeMs));
  return results;
}

interface DrillReportFile {
  file: string;
  ok: boolean;
  finishedAt: string;
  backupId: string;
  failures: string[];
}

/** Drill reports (`drill-*.json`) directly under `dir` and in every backup directory in it. */
export function findDrillReports(dir: string): DrillReportFile[] {
  const dirs = [dir, ...listBackups(dir).map((b) => b.dir)];
  const found: DrillReportFile[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (!/^drill-.*\.json$/.test(name)) continue;
      const file = join(d, name);
      try {
        const report = JSON.parse(readFileSync(file, 'utf8')) as {
          ok?: unknown;
          finishedAt?: unknown;
          backup?: { id?: unknown };
          failures?: unknown;
        };
        if (
          typeof report.ok !== 'boolean' ||
          typeof report.finishedAt !== 'string' ||
          Number.isNaN(Date.parse(report.finishedAt))
        )
          continue;
        found.push({
          file,
          ok: report.ok,
          finishedAt: report.finishedAt,
          backupId: typeof report.backup?.id === 'string' ? report.backup.id : '?',
          failures: Array.isArray(report.failures) ? report.failures.map(String) : [],
        });
      } catch {
        // not a drill report
      }
    }
  }
  return found.sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
}

export function drillCheck(dir: string | undefined, maxAgeMs: number, now = new Date()): CheckResult {
  const id = 'backup.drill';
  if (dir === undefined) {
    return {
      id,
      title: DRILL_TITLE,
      status: 'manual',
      evidence: 'pass --backup-dir (where `secops backup drill` writes its reports)',
    };
  }
  const latest = findDrillReports(dir)[0];
  if (!latest)
    return { id, title: DRILL_TITLE, status: 'failed', evidence: `no drill report under ${dir}: run \`secops backup drill\`` };
  const ageMs = now.getTime() - Date.parse(latest.finishedAt);
  const problems = [
    !latest.ok && `failed: ${latest.failures[0] ?? 'see the report'}`,
    ageMs > maxAgeMs && `older than ${formatAge(maxAgeMs)} (--drill-max-age)`,
  ].filter(Boolean);
  const seen = `last drill ${formatAge(ageMs)} ago (${latest.finishedAt}), backup ${latest.backupId}, ${latest.ok ? 'OK' : 'FAILED'} — ${latest.file}`;
  return {
    id,
    title: DRILL_TITLE,
    status: problems.length === 0 ? 'passed' : 'failed',
    evidence: problems.length === 0 ? seen : `${seen}; ${problems.join('; ')}`,
  };
}
