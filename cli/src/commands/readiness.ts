import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { styleText } from 'node:util';
import type { CliContext } from '../lib/context.js';
import { describeTarget, formatTarget } from '../lib/database.js';
import { DEFAULT_ROLES } from '../lib/db-roles/layout.js';
import { CheckFailedError, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { type ItemStatus, type ReadinessItem, SECTIONS } from '../lib/readiness/checklist.js';
import { databaseChecks, drillCheck, MIGRATIONS_TITLE, ROLE_TITLE } from '../lib/readiness/database.js';
import { type CheckResult, httpChecks } from '../lib/readiness/http.js';
import { probeAccountChecks } from '../lib/readiness/probe/command.js';
import { runtimeCurrencyCheck } from '../lib/readiness/runtime.js';
import { parseStages } from '../lib/supply-chain/dockerfile.js';
import { dockerfileTargets, type RuntimeTarget } from '../lib/supply-chain/runtime-eol.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import { loadEolTable } from '../lib/supply-chain/eol-table-file.js';

/**
 * `secops readiness`: the production readiness checklist turned into evidence. Every item that can be
 * checked from outside (HTTP) or from the database is checked; the rest are listed as manual with a
 * hint. Read-only unless --signup-probe. Exit 1 when an automated item fails.
 */
export interface ReadinessOptions {
  /** The service's public base URL (https:// also checks the http→https redirect). */
  url: URL;
  /** The metrics listener (METRICS_PORT). */
  metricsUrl?: URL;
  backupDir?: string;
  /** Drill reports older than this fail backup.drill. */
  drillMaxAgeMs: number;
  signupProbe: boolean;
  /** The active tier: a throwaway account driven through the deployment and deleted (docs/readiness-probes.md). */
  probeAccount?: boolean;
  /** The probe address's domain (default example.invalid). */
  probeDomain?: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /** The group role the service's user may belong to (`secops db roles apply --runtime`). */
  runtimeRole: string;
  /** The Dockerfile the deployed image is built from (default Dockerfile; its Debian release is checked when present). */
  dockerfile?: string;
  /** End-of-life table (default .secops/runtime-eol.json). */
  eolTable?: string;
  /** Fail this many days before an end of life (default 90). */
  eolWarningDays?: number;
  /** YYYY-MM-DD; default today (UTC). Injected by tests. */
  today?: string;
}

export interface ReadinessReport {
  ok: boolean;
  url: string;
  checkedAt: string;
  summary: Record<ItemStatus, number>;
  items: ReadinessItem[];
}

export async function run(options: ReadinessOptions, ctx: CliContext): Promise<ReadinessReport> {
  const out = createReporter(ctx);
  const { url, metricsUrl, timeoutMs, drillMaxAgeMs } = options;
  const warningDays = options.eolWarningDays ?? AUDIT_DEFAULTS.eolWarningDays;
  const table = loadEolTable(resolve(options.eolTable ?? AUDIT_DEFAULTS.eolTable));
  const dockerfile = resolve(options.dockerfile ?? AUDIT_DEFAULTS.dockerfile);
  let imageTargets: RuntimeTarget[] = [];
  if (existsSync(dockerfile)) imageTargets = dockerfileTargets(parseStages(readFileSync(dockerfile, 'utf8')), table);
  else if (options.dockerfile !== undefined) throw new UsageError(`--dockerfile: no such file ${dockerfile}`);
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const runtimeCheck = (nodeVersion: string | undefined, seen: string) =>
    runtimeCurrencyCheck({ nodeVersion, seen, table, imageTargets, today, warningDays });

  const results = new Map<string, CheckResult>();
  for (const r of await out.step(`probing ${url.origin}`, () =>
    httpChecks({ url, metricsUrl, signupProbe: options.signupProbe, timeoutMs, runtimeCheck }),
  )) {
    results.set(r.id, r);
  }
  if (options.probeAccount) {
    for (const r of await probeAccountChecks(ctx, out, { url, timeoutMs, domain: options.probeDomain })) results.set(r.id, r);
  }

  // A database named by --database-url or DATABASE_URL (_FILE, _REF); else the database items are manual.
  const databaseConfigured = (await ctx.config()).source('DATABASE_URL').kind !== 'none';
  if (!databaseConfigured) {
    const hint = 'pass --database-url (or DATABASE_URL) of the production database, as the service’s own role';
    results.set('db.role', { id: 'db.role', title: ROLE_TITLE, status: 'manual', evidence: hint });
    results.set('db.migrations', { id: 'db.migrations', title: MIGRATIONS_TITLE, status: 'manual', evidence: hint });
  } else {
    const db = await ctx.database();
    try {
      if (db.kind !== 'postgres') {
        const hint = 'the configured database is the embedded PGlite: point --database-url at the production PostgreSQL';
        results.set('db.role', { id: 'db.role', title: ROLE_TITLE, status: 'manual', evidence: hint });
        results.set('db.migrations', { id: 'db.migrations', title: MIGRATIONS_TITLE, status: 'manual', evidence: hint });
      } else {
        out.line(`Database: ${formatTarget(describeTarget(db))}`);
        const roles = { runtime: options.runtimeRole, schema: DEFAULT_ROLES.schema };
        for (const r of await out.step('checking the database', () => databaseChecks(db, roles))) results.set(r.id, r);
      }
    } finally {
      await db.close();
    }
  }
  results.set('backup.drill', drillCheck(options.backupDir, drillMaxAgeMs));

  const items: ReadinessItem[] = [];
  for (const section of SECTIONS) {
    for (const entry of section.entries) {
      if (entry.kind === 'manual') {
        items.push({ id: entry.id, section: section.title, title: entry.title, status: 'manual', evidence: entry.hint });
        continue;
      }
      const r = results.get(entry.id);
      if (!r) throw new Error(`readiness: no result for check ${entry.id}`);
      items.push({ ...r, section: section.title });
      results.delete(entry.id);
    }
  }
  if (results.size > 0) throw new Error(`readiness: checks not placed in the checklist: ${[...results.keys()].join(', ')}`);

  const summary: Record<ItemStatus, number> = { passed: 0, failed: 0, manual: 0 };
  for (const item of items) summary[item.status] += 1;
  const report: ReadinessReport = {
    ok: summary.failed === 0,
    url: url.origin,
    checkedAt: new Date().toISOString(),
    summary,
    items,
  };

  out.json(report);
  if (!ctx.json) printText(report, ctx);
  if (!report.ok) {
    const failed = items.filter((i) => i.status === 'failed').map((i) => i.id);
    throw new CheckFailedError(`readiness: ${failed.length} item(s) failed: ${failed.join(', ')}`);
  }
  return report;
}

function printText(report: ReadinessReport, ctx: CliContext): void {
  const colour = ctx.isTTY && !ctx.env.NO_COLOR;
  const paint = (format: Parameters<typeof styleText>[0], text: string) => (colour ? styleText(format, text) : text);
  const mark: Record<ItemStatus, string> = {
    passed: paint('green', '[x]'),
    failed: paint('red', '[ ]'),
    manual: paint('dim', '[manual]'),
  };
  const lines = [`Production readiness of ${report.url} (${report.checkedAt})`];
  let section = '';
  for (const item of report.items) {
    if (item.section !== section) {
      section = item.section;
      lines.push('', paint('bold', `## ${section}`));
    }
    const label = item.status === 'passed' ? 'evidence' : item.status === 'failed' ? 'seen' : 'hint';
    lines.push(`${mark[item.status]} ${item.title}  (${item.id})`, `      ${label}: ${item.evidence}`);
  }
  const { passed, failed, manual } = report.summary;
  lines.push(
    '',
    `${passed} verified, ${failed} failed, ${manual} manual — ${report.ok ? paint('green', 'READY (automated checks)') : paint('red', 'NOT READY')}`,
  );
  ctx.stdout.write(`${lines.join('\n')}\n`);
}
