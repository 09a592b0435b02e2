import { defineGroup, examples } from '../lib/command-kit.js';
import { DEFAULT_ROLES } from '../lib/db-roles/defaults.js';
import { validateName } from '../lib/db-roles/identifiers.js';
import { parseDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';
import { httpUrl } from '../lib/option-values.js';
import { READINESS_DEFAULTS } from '../lib/readiness/defaults.js';
import { probeFlags } from '../lib/readiness/probe/flags.js';
import { AUDIT_DEFAULTS, runtimeOptions } from '../lib/supply-chain/audit-defaults.js';
import type { ReadinessOptions } from './readiness.js';

/** `secops readiness` (run: ./readiness.ts). */

interface ReadinessFlags {
  url: string;
  metricsUrl?: string;
  backupDir?: string;
  drillMaxAge: string;
  pitrMinWindow: string;
  retentionMaxAge: string;
  signupProbe?: boolean;
  probeAccount?: boolean;
  probeDomain?: string;
  timeout: string;
  runtimeRole: string;
  dockerfile?: string;
  eolTable?: string;
  eolWarningDays?: string;
  kustomize?: string;
  wafConfig?: string;
  alertsDir?: string;
  runbooksDir?: string;
  workflows?: string;
  ci?: boolean;
  junit?: string;
  summary?: string;
  baseline?: string;
}

export function readinessOptions(flags: ReadinessFlags): ReadinessOptions {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  if (!flags.ci && (flags.junit !== undefined || flags.summary !== undefined))
    throw new UsageError('--junit and --summary are written in CI mode: add --ci');
  return {
    url: httpUrl(flags.url, '--url'),
    metricsUrl: flags.metricsUrl === undefined ? undefined : httpUrl(flags.metricsUrl, '--metrics-url'),
    backupDir: flags.backupDir,
    drillMaxAgeMs: parseDuration(flags.drillMaxAge, '--drill-max-age'),
    pitrMinWindowMs: parseDuration(flags.pitrMinWindow, '--pitr-min-window'),
    retentionMaxAgeMs: parseDuration(flags.retentionMaxAge, '--retention-max-age'),
    signupProbe: flags.signupProbe === true,
    ...probeFlags(flags),
    timeoutMs,
    runtimeRole: validateName(flags.runtimeRole, 'runtime role'),
    kustomize: flags.kustomize,
    wafConfig: flags.wafConfig,
    alertsDir: flags.alertsDir,
    runbooksDir: flags.runbooksDir,
    workflows: flags.workflows,
    ci: flags.ci
      ? { junit: flags.junit ?? READINESS_DEFAULTS.junit, summary: flags.summary ?? READINESS_DEFAULTS.summary }
      : undefined,
    baseline: flags.baseline,
    ...runtimeOptions(flags),
  };
}

export const readinessGroup = defineGroup('readiness', (program, action) => {
  program
    .command('readiness')
    .description(
      'prove the 61 items of the production readiness checklist (docs/checklist.md) against a deployment: [x] verified with evidence, [ ] failed with what was seen, [manual] with why or what would prove it',
    )
    .requiredOption('--url <url>', 'read-only tier: the service’s public base URL (https:// also checks plain HTTP is refused)')
    .option('--metrics-url <url>', 'read-only tier: the metrics listener (METRICS_PORT), e.g. http://10.0.0.5:9464/metrics')
    .option(
      '--backup-dir <dir>',
      'backups tier: where backups, drill reports and pitr-drill-*.json live (signatures verified with BACKUP_SIGNING_KEY)',
    )
    .option(
      '--drill-max-age <duration>',
      'the last restore (and PITR) drill must be younger than this',
      READINESS_DEFAULTS.drillMaxAge,
    )
    .option(
      '--pitr-min-window <duration>',
      'the last PITR drill’s recoverability window must span this',
      READINESS_DEFAULTS.pitrMinWindow,
    )
    .option(
      '--retention-max-age <duration>',
      'database tier: no message may be older than this',
      READINESS_DEFAULTS.retentionMaxAge,
    )
    .option(
      '--kustomize <overlay>',
      'manifests tier: render this kustomize overlay (kubectl kustomize) and check what it deploys',
    )
    .option(
      '--waf-config <file>',
      `manifests tier: the ingress-nginx controller ConfigMap holding the WAF settings (default: ${READINESS_DEFAULTS.wafConfig} when present)`,
    )
    .option(
      '--alerts-dir <dir>',
      `alerts tier: the Prometheus rule files (default: ./${READINESS_DEFAULTS.alertsDir} when present)`,
    )
    .option(
      '--runbooks-dir <dir>',
      `runbooks tier: the operational runbooks (default: ./${READINESS_DEFAULTS.runbooksDir} when present)`,
    )
    .option(
      '--workflows <dir>',
      `pipeline tier: the CI and release workflows (default: ./${READINESS_DEFAULTS.workflows} when present)`,
    )
    .option(
      '--probe-account',
      'active tier: drive a throwaway account through signup, verification, login, refresh, logout, lockout, MFA and the limits, then delete it (needs the database; writes audit rows; docs/readiness-probes.md)',
    )
    .option('--probe-domain <domain>', 'the probe account’s address domain (default: example.invalid)')
    .option(
      '--dockerfile <file>',
      'the Dockerfile of the deployed image: digests and image rules, and its Debian release (default: ./Dockerfile when present)',
    )
    .option('--eol-table <file>', `end-of-life table of Node lines and Debian releases (default: ${AUDIT_DEFAULTS.eolTable})`)
    .option(
      '--eol-warning-days <days>',
      `fail runtime.currency this many days before an end of life (default: ${AUDIT_DEFAULTS.eolWarningDays})`,
    )
    .option('--signup-probe', 'sign up a throwaway user to decode a real access token (writes a user; default: read-only)')
    .option('--timeout <duration>', 'per-request timeout', READINESS_DEFAULTS.timeout)
    .option(
      '--runtime-role <role>',
      'the group role the service’s DB user belongs to (db.role: secops db roles check)',
      DEFAULT_ROLES.runtime,
    )
    .option('--ci', 'CI mode: write --junit and --summary; exit 1 on any [ ] item')
    .option('--junit <file>', `CI mode: JUnit XML, one test case per item (default: ${READINESS_DEFAULTS.junit})`)
    .option('--summary <file>', `CI mode: Markdown summary (default: ${READINESS_DEFAULTS.summary})`)
    .option(
      '--baseline <file>',
      'accept named failing items as manual until an expiry: YAML/JSON [{id, reason, expires: YYYY-MM-DD}]',
    )
    .addHelpText(
      'after',
      [
        examples(
          'secops readiness --url https://api.example.com --metrics-url http://10.0.0.5:9464',
          'DATABASE_URL_FILE=/run/secrets/db-url BACKUP_SIGNING_KEY_FILE=/run/secrets/backup-public-key secops readiness --url https://api.example.com --backup-dir /var/backups/rampart',
          'secops readiness --url https://api.example.com --kustomize k8s/overlays/production --alerts-dir alerts --runbooks-dir runbooks',
          'DATABASE_URL_FILE=/run/secrets/db-url secops readiness --url https://api.example.com --probe-account',
          'secops readiness --url https://api.example.com --kustomize k8s/overlays/production --ci --baseline .secops/readiness-baseline.yaml',
          `secops --json readiness --url https://api.example.com | jq '.items[] | select(.status=="failed")'`,
        ),
        'Tiers: read-only (--url, --metrics-url, the database named by --database-url/DATABASE_URL as the service’s own',
        'role, --backup-dir, --dockerfile, --alerts-dir, --runbooks-dir, --workflows); manifests (--kustomize); active probes',
        '(--probe-account: a throwaway account, created and deleted). An item a tier left out is [manual] with the flag',
        'that would prove it. Item ids, tiers and the baseline format: docs/readiness.md.',
        '',
        'Exit codes: 0 no item failed; 1 an item failed, or a --baseline entry expired or names no item; 2 bad',
        'arguments; 78 a tool the tier needs is missing (kubectl for --kustomize).',
      ].join('\n'),
    )
    .action(
      action<ReadinessOptions, ReadinessFlags>(
        () => import('./readiness.js'),
        ({ flags }) => readinessOptions(flags),
      ),
    );
});
