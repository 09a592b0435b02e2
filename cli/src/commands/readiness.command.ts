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
  signupProbe?: boolean;
  probeAccount?: boolean;
  probeDomain?: string;
  timeout: string;
  runtimeRole: string;
  dockerfile?: string;
  eolTable?: string;
  eolWarningDays?: string;
}

export function readinessOptions(flags: ReadinessFlags): ReadinessOptions {
  const timeoutMs = parseDuration(flags.timeout, '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  return {
    url: httpUrl(flags.url, '--url'),
    metricsUrl: flags.metricsUrl === undefined ? undefined : httpUrl(flags.metricsUrl, '--metrics-url'),
    backupDir: flags.backupDir,
    drillMaxAgeMs: parseDuration(flags.drillMaxAge, '--drill-max-age'),
    signupProbe: flags.signupProbe === true,
    ...probeFlags(flags),
    timeoutMs,
    runtimeRole: validateName(flags.runtimeRole, 'runtime role'),
    ...runtimeOptions(flags),
  };
}

export const readinessGroup = defineGroup('readiness', (program, action) => {
  program
    .command('readiness')
    .description('check the production readiness checklist against a live deployment: [x] verified, [ ] failed, [manual]')
    .requiredOption('--url <url>', 'the service’s public base URL (https:// also checks the http→https redirect)')
    .option('--metrics-url <url>', 'the metrics listener (METRICS_PORT), e.g. http://10.0.0.5:9464/metrics')
    .option('--backup-dir <dir>', 'where backups and their drill reports live (else the drill item is manual)')
    .option('--drill-max-age <duration>', 'the last restore drill must be younger than this', READINESS_DEFAULTS.drillMaxAge)
    .option('--signup-probe', 'sign up a throwaway user to decode a real access token (writes a user; default: read-only)')
    .option('--probe-account', 'active tier: drive a throwaway account through signup, verification, login, refresh, logout, lockout, MFA and the limits, then delete it (needs the database; writes audit rows; docs/readiness-probes.md)')
    .option('--probe-domain <domain>', 'the probe account’s address domain (default: example.invalid)')
    .option('--timeout <duration>', 'per-request timeout', READINESS_DEFAULTS.timeout)
    .option('--runtime-role <role>', 'the group role the service’s DB user belongs to (db.role: secops db roles check)', DEFAULT_ROLES.runtime)
    .option(
      '--dockerfile <file>',
      'the Dockerfile of the deployed image: its Debian release is checked (runtime.currency; default: ./Dockerfile when present)',
    )
    .option('--eol-table <file>', `end-of-life table of Node lines and Debian releases (default: ${AUDIT_DEFAULTS.eolTable})`)
    .option('--eol-warning-days <days>', `fail runtime.currency this many days before an end of life (default: ${AUDIT_DEFAULTS.eolWarningDays})`)
    .addHelpText(
      'after',
      examples(
        'secops readiness --url https://api.example.com --metrics-url http://10.0.0.5:9464',
        'DATABASE_URL_FILE=/run/secrets/db-url secops readiness --url https://api.example.com --backup-dir /var/backups/rampart',
        'DATABASE_URL_FILE=/run/secrets/db-url secops readiness --url https://api.example.com --probe-account',
        `secops --json readiness --url https://api.example.com | jq '.items[] | select(.status=="failed")'`,
      ),
    )
    .action(action<ReadinessOptions, ReadinessFlags>(() => import('./readiness.js'), ({ flags }) => readinessOptions(flags)));
});
