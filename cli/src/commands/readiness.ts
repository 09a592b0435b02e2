import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { styleText } from 'node:util';
import { signingKeyring } from '../lib/backup/settings.js';
import type { CliContext } from '../lib/context.js';
import { describeTarget, formatTarget } from '../lib/database.js';
import { DEFAULT_ROLES } from '../lib/db-roles/layout.js';
import { parseDuration } from '../lib/duration.js';
import { CheckFailedError, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { type AlertRule, alertChecks, readAlertRules } from '../lib/readiness/alerts.js';
import { loadBaseline } from '../lib/readiness/baseline.js';
import { pitrCheck, signedBackupsCheck } from '../lib/readiness/backups.js';
import { CHECKLIST, type ItemStatus } from '../lib/readiness/checklist.js';
import { junitXml, markdownSummary } from '../lib/readiness/ci-report.js';
import { databaseChecks, drillCheck } from '../lib/readiness/database.js';
import { READINESS_DEFAULTS } from '../lib/readiness/defaults.js';
import { dockerfileCheck } from '../lib/readiness/dockerfile.js';
import { evaluateChecklist, type ReadinessItem } from '../lib/readiness/evaluate.js';
import { httpChecks } from '../lib/readiness/http.js';
import { renderOverlay } from '../lib/readiness/kustomize.js';
import { manifestChecks } from '../lib/readiness/manifests.js';
import { pipelineChecks } from '../lib/readiness/pipeline.js';
import { producedChecks } from '../lib/readiness/registry.js';
import type { CheckResult } from '../lib/readiness/result.js';
import { runbookChecks } from '../lib/readiness/runbooks.js';
import { probeAccountChecks } from '../lib/readiness/probe/command.js';
import { runtimeCurrencyCheck } from '../lib/readiness/runtime.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import { parseStages } from '../lib/supply-chain/dockerfile.js';
import { loadEolTable } from '../lib/supply-chain/eol-table-file.js';
import { dockerfileTargets, type RuntimeTarget } from '../lib/supply-chain/runtime-eol.js';

/**
 * `secops readiness`: the 61 items of the production readiness checklist (docs/checklist.md), each
 * proven by the checks of the tiers the operator selects (lib/readiness/checklist.ts maps items to
 * checks, registry.ts checks to tiers), manual with a reason, or failed with what was seen. Read-only
 * unless --signup-probe. Exit 1 when an item fails (CI mode writes JUnit and Markdown first).
 */
export interface ReadinessOptions {
  /** The service's public base URL (https:// also checks that plain HTTP is refused). */
  url: URL;
  /** The metrics listener (METRICS_PORT). */
  metricsUrl?: URL;
  backupDir?: string;
  /** Drill reports older than this fail backup.drill and backup.pitr. */
  drillMaxAgeMs: number;
  /** backup.pitr: the shortest recoverability window accepted. */
  pitrMinWindowMs: number;
  /** db.retention: no message older than this. */
  retentionMaxAgeMs: number;
  signupProbe: boolean;
  /** The active tier: a throwaway account driven through the deployment and deleted (docs/readiness-probes.md). */
  probeAccount?: boolean;
  /** The probe address's domain (default example.invalid). */
  probeDomain?: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /** The group role the service's user may belong to (`secops db roles apply --runtime`). */
  runtimeRole: string;
  /** The Dockerfile the deployed image is built from (default Dockerfile when present). */
  dockerfile?: string;
  /** End-of-life table (default .secops/runtime-eol.json). */
  eolTable?: string;
  /** Fail this many days before an end of life (default 90). */
  eolWarningDays?: number;
  /** The kustomize overlay being deployed (the manifests tier). */
  kustomize?: string;
  /** The ingress-nginx controller ConfigMap (WAF settings); default k8s/ingress-nginx/controller-configmap.yaml when present. */
  wafConfig?: string;
  /** Prometheus rule files; default ./alerts when present. */
  alertsDir?: string;
  /** Runbooks; default ./runbooks when present. */
  runbooksDir?: string;
  /** CI and release workflows; default ./.github/workflows when present. */
  workflows?: string;
  /** CI mode: where to write the JUnit XML and the Markdown summary. */
  ci?: { junit: string; summary: string };
  baseline?: string;
  /** YYYY-MM-DD; default today (UTC). Injected by tests. */
  today?: string;
}

export interface ReadinessReport {
  ok: boolean;
  url: string;
  checkedAt: string;
  /** The tiers that ran. */
  tiers: string[];
  summary: Record<ItemStatus, number>;
  items: ReadinessItem[];
}

/** An explicit path (must exist), else the default when it exists here, else nothing. */
function located(explicit: string | undefined, fallback: string, flag: string): string | undefined {
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new UsageError(`${flag}: no such file or directory ${explicit}`);
    return resolve(explicit);
  }
  return existsSync(fallback) ? resolve(fallback) : undefined;
}

export async function run(options: ReadinessOptions, ctx: CliContext): Promise<ReadinessReport> {
  const out = createReporter(ctx);
  const { url, metricsUrl, timeoutMs, drillMaxAgeMs } = options;
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  // A baseline is judged before anything is probed: an expired entry fails at once.
  const baseline = options.baseline ? loadBaseline(options.baseline, new Set(CHECKLIST.map((i) => i.id)), today) : new Map();
  const toolTimeoutMs = parseDuration(READINESS_DEFAULTS.toolTimeout, 'toolTimeout');
  const warningDays = options.eolWarningDays ?? AUDIT_DEFAULTS.eolWarningDays;
  const table = loadEolTable(resolve(options.eolTable ?? AUDIT_DEFAULTS.eolTable));
  const dockerfile = located(options.dockerfile, AUDIT_DEFAULTS.dockerfile, '--dockerfile');
  const dockerText = dockerfile ? readFileSync(dockerfile, 'utf8') : undefined;
  const imageTargets: RuntimeTarget[] = dockerText ? dockerfileTargets(parseStages(dockerText), table) : [];
  const alertsDir = located(options.alertsDir, READINESS_DEFAULTS.alertsDir, '--alerts-dir');
  const runbooksDir = located(options.runbooksDir, READINESS_DEFAULTS.runbooksDir, '--runbooks-dir');
  const workflows = located(options.workflows, READINESS_DEFAULTS.workflows, '--workflows');
  const runtimeCheck = (nodeVersion: string | undefined, seen: string) =>
    runtimeCurrencyCheck({ nodeVersion, seen, table, imageTargets, today, warningDays });

  const tiers: string[] = ['read-only'];
  const results = new Map<string, CheckResult>();
  const known = producedChecks();
  const record = (list: readonly CheckResult[]) => {
    for (const r of list) {
      if (!known.has(r.id)) throw new Error(`readiness: check ${r.id} is in no tier (lib/readiness/registry.ts)`);
      results.set(r.id, r);
    }
  };

  // Manifests first: a missing kubectl or a broken overlay is an error before anything is probed.
  if (options.kustomize !== undefined) {
    const overlay = resolve(options.kustomize);
    const objects = await out.step(`rendering ${options.kustomize}`, () => renderOverlay(overlay, toolTimeoutMs));
    let alerts: AlertRule[] | undefined;
    try {
      alerts = alertsDir ? readAlertRules(alertsDir) : undefined;
    } catch {
      alerts = undefined; // alerts.rules reports the broken file
    }
    const wafConfig = located(options.wafConfig, READINESS_DEFAULTS.wafConfig, '--waf-config');
    record(manifestChecks({ objects, overlay, alerts, wafConfig }));
    tiers.push('manifests');
  } else if (options.wafConfig !== undefined) throw new UsageError('--waf-config is read with --kustomize');

  record(
    await out.step(`probing ${url.origin}`, () =>
      httpChecks({ url, metricsUrl, signupProbe: options.signupProbe, timeoutMs, runtimeCheck }),
    ),
  );
  // The active tier: a throwaway account driven through the deployment, deleted in every case.
  if (options.probeAccount) {
    record(await probeAccountChecks(ctx, out, { url, timeoutMs, domain: options.probeDomain }));
    tiers.push('probe');
  }

  // A database named by --database-url or DATABASE_URL (_FILE, _REF); else the database tier does not run.
  const databaseConfigured = (await ctx.config()).source('DATABASE_URL').kind !== 'none';
  if (databaseConfigured) {
    const db = await ctx.database();
    try {
      if (db.kind !== 'postgres')
        out.warn('the configured database is the embedded PGlite: point --database-url at the production PostgreSQL');
      else {
        out.line(`Database: ${formatTarget(describeTarget(db))}`);
        const roles = { runtime: options.runtimeRole, schema: DEFAULT_ROLES.schema };
        record(await out.step('checking the database', () => databaseChecks(db, roles, options.retentionMaxAgeMs)));
        tiers.push('database');
      }
    } finally {
      await db.close();
    }
  }
  if (options.backupDir !== undefined) {
    const dir = resolve(options.backupDir);
    record([
      drillCheck(dir, drillMaxAgeMs),
      signedBackupsCheck(dir, await signingKeyring(ctx)),
      pitrCheck(dir, drillMaxAgeMs, options.pitrMinWindowMs),
    ]);
    tiers.push('backups');
  }
  if (dockerfile && dockerText !== undefined) {
    record([dockerfileCheck(dockerfile, dockerText)]);
    tiers.push('dockerfile');
  }
  if (alertsDir) {
    record(await alertChecks(alertsDir, toolTimeoutMs));
    tiers.push('alerts');
  }
  if (runbooksDir) {
    record(runbookChecks(runbooksDir));
    tiers.push('runbooks');
  }
  if (workflows) {
    record(pipelineChecks(workflows));
    tiers.push('pipeline');
  }

  const items = evaluateChecklist(CHECKLIST, results, baseline);
  const summary: Record<ItemStatus, number> = { passed: 0, failed: 0, manual: 0 };
  for (const item of items) summary[item.status] += 1;
  const report: ReadinessReport = {
    ok: summary.failed === 0,
    url: url.origin,
    checkedAt: new Date().toISOString(),
    tiers,
    summary,
    items,
  };

  if (options.ci) {
    writeFileSync(options.ci.junit, junitXml(report, items));
    writeFileSync(options.ci.summary, markdownSummary(report, items));
  }
  out.json(report);
  if (!ctx.json) printText(report, ctx);
  if (options.ci) out.line(`CI: wrote ${options.ci.junit} and ${options.ci.summary}`);
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
  const lines = [`Production readiness of ${report.url} (${report.checkedAt}), tiers: ${report.tiers.join(', ')}`];
  let section = '';
  for (const item of report.items) {
    if (item.section !== section) {
      section = item.section;
      lines.push('', paint('bold', `## ${section}`));
    }
    const label = item.status === 'passed' ? 'evidence' : item.status === 'failed' ? 'seen' : item.accepted ? 'accepted' : 'why';
    lines.push(`${mark[item.status]} ${item.title}  (${item.id})`, `      ${label}: ${item.evidence}`);
  }
  const { passed, failed, manual } = report.summary;
  lines.push(
    '',
    `${passed} verified, ${failed} failed, ${manual} manual of ${report.items.length} — ${report.ok ? paint('green', 'READY (automated checks)') : paint('red', 'NOT READY')}`,
  );
  ctx.stdout.write(`${lines.join('\n')}\n`);
}
