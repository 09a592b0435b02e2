import { Option } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import { httpUrl, oneOf, optionalWholeNumber } from '../lib/option-values.js';
import { AUDIT_DEFAULTS, type RuntimeFlags, runtimeOptions } from '../lib/supply-chain/audit-defaults.js';
import { SEVERITIES } from '../lib/supply-chain/severity.js';
import type { AuditOptions } from './audit.js';
import type { UpdateAdvisoriesOptions } from './audit-update-advisories.js';
import type { UpdateEolOptions } from './audit-update-eol.js';

/** `secops audit`, `secops audit update-advisories`, `secops audit update-eol` (runs: ./audit*.ts). */

interface GateFlags extends RuntimeFlags {
  level: string;
  advisories: string;
  ignoreFile: string;
  licenses: string;
  report?: string;
  offline?: boolean;
  sbom?: string;
  maxAdvisoryAge?: string;
}

export function gateOptions(flags: GateFlags): AuditOptions {
  return {
    level: oneOf(flags.level, '--level', SEVERITIES),
    advisories: flags.advisories,
    ignoreFile: flags.ignoreFile,
    licenses: flags.licenses,
    report: flags.report,
    offline: flags.offline === true,
    sbom: flags.sbom,
    maxAdvisoryAge: optionalWholeNumber(flags.maxAdvisoryAge, '--max-advisory-age', 0, 3650),
    ...runtimeOptions(flags),
  };
}

export const auditGroup = defineGroup('audit', (program, action) => {
  const audit = program
    .command('audit')
    .description(
      'release gate: known advisories, licences and banned packages of the installed production dependencies, or of an image SBOM (--sbom)',
    )
    .addOption(new Option('--level <severity>', 'fail on advisories at or above this severity').choices(SEVERITIES).default(AUDIT_DEFAULTS.level))
    .option('--advisories <file>', 'offline OSV advisory file', AUDIT_DEFAULTS.advisories)
    .option('--ignore-file <file>', 'accepted advisories, each with a reason and an expiry', AUDIT_DEFAULTS.ignoreFile)
    .option('--licenses <file>', 'licence policy: SPDX allow-list, exceptions, banned packages', AUDIT_DEFAULTS.licenses)
    .option('--report <file>', 'also write the JSON report to this file (written whether the gate passes or not)')
    .option('--offline', 'do not ask the npm advisory service; use the advisory file only')
    .option('--sbom <file>', 'check the npm and Debian components of this CycloneDX JSON SBOM (an image) instead of the installed tree')
    .option(
      '--max-advisory-age <days>',
      `the advisory file's data may be this many days old; older warns, and fails under CI=true (default: ${AUDIT_DEFAULTS.maxAdvisoryAgeDays})`,
    )
    .option('--dockerfile <file>', 'the image whose base runtimes (Node line, Debian release) are checked (default: ./Dockerfile when present)')
    .option(
      '--eol-table <file>',
      `end-of-life table of Node lines and Debian releases (default: ${AUDIT_DEFAULTS.eolTable}; refresh: secops audit update-eol)`,
    )
    .option('--eol-warning-days <days>', `fail this many days before a runtime reaches its end of life (default: ${AUDIT_DEFAULTS.eolWarningDays})`)
    .addHelpText(
      'after',
      `${examples('secops audit', 'secops audit --level moderate', 'secops audit --json --report build/audit.json', 'secops audit --sbom build/image.cdx.json --json', 'secops audit update-advisories --sbom build/image.cdx.json', 'secops audit update-eol')}
Runtimes: the Node running the gate, the pinned development Node (package.json) and every base image of
the Dockerfile fail the gate when past their end of life or within --eol-warning-days of it.
--sbom: npm (pkg:npm) and Debian (pkg:deb/debian, distro=debian-N) components against the advisory
file (OSV ecosystems npm and Debian:N); licences are gated for npm components only; bans apply to all.
Advisory data: when the gate relies on the advisory file (npm audit unavailable, --offline, --sbom),
data older than --max-advisory-age (or undated) warns, and with CI set fails the gate.
Exit codes: 0 passed; 1 failed (findings, expired ignores, stale data under CI; the report still
printed, with --json "ok": false); 2 bad arguments.`,
    )
    .action(action<AuditOptions, GateFlags>(() => import('./audit.js'), ({ flags }) => gateOptions(flags)));

  audit
    .command('update-advisories')
    .description(
      'refresh the offline advisory file from OSV (the installed npm packages, and an image SBOM\'s Debian packages) and stamp its date',
    )
    .option('--sbom <file>', "also query the npm and Debian packages of this CycloneDX JSON SBOM (the image's)")
    .option('--osv-url <url>', `OSV's API (default: ${AUDIT_DEFAULTS.osvUrl})`)
    .option('--npm-audit', 'ask npm audit (npm\'s bulk advisory endpoint) instead of OSV')
    .option('--from <file>', 'an `npm audit --json` report or an OSV dump instead of asking a service')
    .option('--out <file>', 'the advisory file to update', AUDIT_DEFAULTS.advisories)
    .addHelpText(
      'after',
      examples(
        'npm run audit:update',
        'secops audit update-advisories --sbom build/image.cdx.json',
        'secops audit update-advisories --from osv-dump.json',
      ),
    )
    .action(
      action<UpdateAdvisoriesOptions, { from?: string; out: string; sbom?: string; osvUrl?: string; npmAudit?: boolean }>(
        () => import('./audit-update-advisories.js'),
        ({ flags }) => ({
          from: flags.from,
          out: flags.out,
          sbom: flags.sbom,
          npmAudit: flags.npmAudit === true,
          ...(flags.osvUrl ? { osvUrl: httpUrl(flags.osvUrl, '--osv-url').href } : {}),
        }),
      ),
    );

  audit
    .command('update-eol')
    .description("refresh the end-of-life table from Node's release schedule and Debian's distro-info table")
    .option('--node-schedule <url|file>', "Node's schedule.json (default: the file in Node's Release repository)")
    .option('--debian-csv <file>', "distro-info-data's debian.csv (default: /usr/share/distro-info/debian.csv)")
    .option('--out <file>', `the table to write (default: ${AUDIT_DEFAULTS.eolTable})`)
    .addHelpText('after', examples('secops audit update-eol', 'secops audit update-eol --node-schedule schedule.json --debian-csv debian.csv'))
    .action(
      action<UpdateEolOptions, { nodeSchedule?: string; debianCsv?: string; out?: string }>(
        () => import('./audit-update-eol.js'),
        ({ flags }) => ({ nodeSchedule: flags.nodeSchedule, debianCsv: flags.debianCsv, out: flags.out }),
      ),
    );
});
