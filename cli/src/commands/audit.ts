import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, CliError, UsageError } from '../lib/errors.js';
import { createReporter, type Reporter } from '../lib/output.js';
import { table } from '../lib/table.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import { loadEolTable } from '../lib/supply-chain/eol-table-file.js';
import { type Freshness, snapshotFreshness } from '../lib/supply-chain/advisory-snapshot.js';
import { type AdvisorySources, collectAdvisories, isCi } from '../lib/supply-chain/advisory-sources.js';
import { readSbomPackages, type SbomSummary } from '../lib/supply-chain/sbom-components.js';
import { type AuditOutcome, evaluateAudit } from '../lib/supply-chain/audit-gate.js';
import { readJsonFile, writeJsonFile } from '../lib/supply-chain/files.js';
import { type IgnoreEntry, parseIgnoreFile } from '../lib/supply-chain/ignores.js';
import { type InstalledPackage, readProductionTree } from '../lib/supply-chain/installed.js';
import { validateLicensePolicy } from '../lib/supply-chain/licenses.js';
import { parseStages } from '../lib/supply-chain/dockerfile.js';
import {
  dockerfileTargets,
  evaluateRuntimes,
  nodeLineOf,
  pinnedNodeTarget,
  type RuntimeFinding,
  type RuntimeTarget,
} from '../lib/supply-chain/runtime-eol.js';
import { isSeverity, } from '../lib/supply-chain/severity.js';

/** `secops audit`: the release gate over the installed production dependencies. */
export interface AuditOptions {
  advisories?: string;
  level?: string;
  ignoreFile?: string;
  licenses?: string;
  report?: string;
  /** Skip the npm advisory service and use only the advisory file. */
  offline?: boolean;
  /** Project root (package.json, node_modules); default: the working directory. */
  cwd?: string;
  /** YYYY-MM-DD; default today (UTC). Injected by tests. */
  today?: string;
  /** Replaces `npm ls` (tests). */
  readPackages?: (cwd: string) => Promise<InstalledPackage[]>;
  /** The image whose base runtimes are checked (default Dockerfile, skipped when absent and not named). */
  dockerfile?: string;
  /** The committed end-of-life table of Node lines and Debian releases. */
  eolTable?: string;
  /** Fail this many days before an end of life (default 90). */
  eolWarningDays?: string | number;
  /** The Node whose line is checked as "running" (default process.version; tests inject one). */
  nodeVersion?: string;
  /**
   * A CycloneDX JSON SBOM (e.g. the image's): its npm and Debian components are checked instead of
   * the installed tree, against the advisory file only.
   */
  sbom?: string;
  /** The advisory file may be this many days old (default 7); older warns, and fails under CI. */
  maxAdvisoryAge?: number;
}

export interface RuntimeCurrency {
  ok: boolean;
  warningDays: number;
  table: { path: string; node: string; debian: string };
  findings: RuntimeFinding[];
}

export type { AdvisorySources };

export type AuditReport = AuditOutcome & {
  sources: AdvisorySources;
  /** The advisory file's age when the gate relied on it (null when npm audit answered or there is no file). */
  advisoryData: (Freshness & { enforced: boolean }) | null;
  sbom: SbomSummary | null;
  ignoreFileProblems: string[];
  runtime: RuntimeCurrency;
};

export async function run(options: AuditOptions, ctx: CliContext): Promise<AuditReport> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const level = options.level ?? AUDIT_DEFAULTS.level;
  if (!isSeverity(level)) throw new UsageError(`--level must be one of low, moderate, high, critical (got ${level})`);
  const today = options.today ?? new Date().toISOString().slice(0, 10);

  const { policy, problems: policyProblems } = validateLicensePolicy(
    readJsonFile(resolve(cwd, options.licenses ?? AUDIT_DEFAULTS.licenses), 'licence policy'),
  );
  if (!policy) throw new CliError(`invalid licence policy:\n${policyProblems.map((p) => `  - ${p}`).join('\n')}`);
  const { ignores, problems: ignoreFileProblems } = loadIgnores(
    resolve(cwd, options.ignoreFile ?? AUDIT_DEFAULTS.ignoreFile),
    options.ignoreFile !== undefined,
  );

  const maxAgeDays = options.maxAdvisoryAge ?? AUDIT_DEFAULTS.maxAdvisoryAgeDays;
  if (!Number.isInteger(maxAgeDays) || maxAgeDays < 0)
    throw new UsageError(`--max-advisory-age must be a whole number of days ≥ 0 (got ${options.maxAdvisoryAge})`);

  let packages: InstalledPackage[];
  let sbom: SbomSummary | null = null;
  if (options.sbom) {
    ({ packages, summary: sbom } = readSbomPackages(resolve(cwd, options.sbom)));
    if (sbom.unchecked.length > 0)
      out.warn(`${sbom.unchecked.length} SBOM component(s) not checked (no npm or Debian package URL); see "sbom.unchecked"`);
  } else {
    packages = await out.step('Reading the installed production dependencies', () =>
      (options.readPackages ?? readProductionTree)(cwd),
    );
  }
  // An SBOM describes an image, not this checkout: npm audit (which reads the lockfile) does not apply.
  const { advisories, sources, retrieved } = await out.step('Collecting advisories', () =>
    collectAdvisories({
      cwd,
      path: resolve(cwd, options.advisories ?? AUDIT_DEFAULTS.advisories),
      explicit: options.advisories !== undefined,
      offline: options.offline === true,
      sbom: sbom !== null,
    }),
  );
  if (!sources.npmAudit.used && !sbom) out.warn(sources.npmAudit.note);

  let advisoryData: AuditReport['advisoryData'] = null;
  if (sources.advisoryFile && !sources.npmAudit.used) {
    const enforced = isCi(ctx.env);
    advisoryData = { ...snapshotFreshness(retrieved, today, maxAgeDays), enforced };
    if (advisoryData.stale && !enforced) out.warn(`${advisoryData.message} (fails the gate under CI=true)`);
  }

  const runtime = checkRuntimeCurrency(options, cwd, today);

  const outcome = evaluateAudit({ packages, advisories, ignores, policy, level, today });
  for (const p of ignoreFileProblems) outcome.failures.push(`ignore file: ${p}`);
  for (const p of sbom?.problems ?? []) outcome.failures.push(`SBOM: ${p}`);
  if (advisoryData?.stale && advisoryData.enforced) outcome.failures.push(`stale advisory data: ${advisoryData.message}`);
  for (const f of runtime.findings) if (f.status !== 'supported') outcome.failures.push(`runtime: ${f.message}`);
  const report: AuditReport = {
    ...outcome,
    ok: outcome.failures.length === 0,
    sources,
    advisoryData,
    sbom,
    ignoreFileProblems,
    runtime,
  };

  if (options.report) writeJsonFile(resolve(cwd, options.report), report);
  // A failed gate still prints its report: the document is the result CI archives.
  out.json(report);
  printHuman(report, out);
  if (!report.ok) throw new CheckFailedError(`audit failed: ${report.failures.length} problem(s)`);
  return report;
}

/**
 * The Node lines and Debian releases this project runs and ships — the Node running the gate, the
 * pinned development runtime, every base image of the Dockerfile — against the end-of-life table.
 */
export function checkRuntimeCurrency(options: AuditOptions, cwd: string, today: string): RuntimeCurrency {
  const warningDays = Number(options.eolWarningDays ?? AUDIT_DEFAULTS.eolWarningDays);
  if (!Number.isInteger(warningDays) || warningDays < 0)
    throw new UsageError(`--eol-warning-days must be a whole number of days ≥ 0 (got ${options.eolWarningDays})`);
  const tablePath = resolve(cwd, options.eolTable ?? AUDIT_DEFAULTS.eolTable);
  const table = loadEolTable(tablePath);
  const targets: RuntimeTarget[] = [];
  const running = options.nodeVersion ?? process.version;
  const runningLine = nodeLineOf(running);
  if (runningLine === undefined) throw new UsageError(`not a Node version: ${running}`);
  targets.push({ kind: 'node', id: String(runningLine), source: `the Node running this gate, ${running}` });
  const packageJsonPath = resolve(cwd, 'package.json');
  if (existsSync(packageJsonPath)) {
    const pinned = pinnedNodeTarget(readJsonFile(packageJsonPath, 'package.json') as Parameters<typeof pinnedNodeTarget>[0]);
    if (pinned) targets.push(pinned);
  }
  const dockerfilePath = resolve(cwd, options.dockerfile ?? AUDIT_DEFAULTS.dockerfile);
  if (options.dockerfile !== undefined || existsSync(dockerfilePath)) {
    if (!existsSync(dockerfilePath)) throw new CliError(`Dockerfile not found: ${dockerfilePath}`, { code: 'file_not_found' });
    targets.push(...dockerfileTargets(parseStages(readFileSync(dockerfilePath, 'utf8')), table));
  }
  const findings = evaluateRuntimes(table, targets, today, warningDays);
  return {
    ok: findings.every((f) => f.status === 'supported'),
    warningDays,
    table: { path: tablePath, node: table.node.retrieved, debian: table.debian.retrieved },
    findings,
  };
}

function loadIgnores(path: string, explicit: boolean): { ignores: IgnoreEntry[]; problems: string[] } {
  if (!explicit && !existsSync(path)) return { ignores: [], problems: [] };
  const { entries, problems } = parseIgnoreFile(readJsonFile(path, 'ignore file'));
  return { ignores: entries, problems };
}

function printHuman(report: AuditReport, out: Reporter): void {
  const what = report.sbom
    ? `${report.packagesChecked} SBOM packages (${report.sbom.npm} npm, ${report.sbom.debian} Debian; licences gated for npm only)`
    : `${report.packagesChecked} production packages`;
  out.line(`Checked ${what} against ${describeSources(report.sources)} (level: ${report.level})`);
  if (report.advisoryData) out.line(`Advisory data: ${report.advisoryData.message}`);
  if (report.vulnerabilities.length > 0) {
    out.line('');
    out.line(
      table(
        ['severity', 'package', 'advisory', 'status', 'summary'],
        report.vulnerabilities.map((v) => [
          v.severity,
          v.ecosystem === 'npm' ? `${v.package}@${v.version}` : `${v.package}@${v.version} (${v.ecosystem})`,
          v.id,
          v.ignored ? `ignored until ${v.ignored.expires}` : v.blocking ? 'BLOCKING' : 'below level',
          v.summary.length > 60 ? `${v.summary.slice(0, 59)}…` : v.summary,
        ]),
      ),
    );
  } else out.line(`No known advisory affects ${report.sbom ? 'a package of the SBOM' : 'an installed production package'}.`);
  for (const e of report.licenses.exceptionsUsed) out.line(`licence exception: ${e.package} (${e.license}) — ${e.reason}`);
  out.line('');
  out.line(`Runtimes (end-of-life table of ${report.runtime.table.node}, warning ${report.runtime.warningDays} days before):`);
  for (const f of report.runtime.findings) out.line(`  ${f.status === 'supported' ? '✔' : '✖'} ${f.message}`);
  for (const e of report.ignores.unused) out.warn(`ignore entry ${e.id} matched nothing; remove it if it is no longer needed`);
  if (report.ok)
    out.success(
      `Audit passed: no advisory at or above ${report.level}, every licence allowed, no banned package, every runtime supported`,
    );
  else {
    out.line('');
    out.line(`Audit FAILED (${report.failures.length}):`);
    for (const f of report.failures) out.line(`  ✖ ${f}`);
  }
}

function describeSources(sources: AdvisorySources): string {
  const parts: string[] = [];
  if (sources.npmAudit.used) parts.push('npm audit');
  if (sources.advisoryFile)
    parts.push(
      `${sources.advisoryFile.records} advisory file records (retrieved ${sources.advisoryFile.retrieved ?? 'on an unrecorded date'})`,
    );
  return parts.join(' + ') || 'no advisories';
}

