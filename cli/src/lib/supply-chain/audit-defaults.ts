import { optionalWholeNumber } from '../option-values.js';
import type { Severity } from './severity.js';

/** The files `secops audit` and `secops readiness` read unless told otherwise (relative to the working directory). */
export const AUDIT_DEFAULTS = Object.freeze({
  advisories: '.secops/advisories.osv.json',
  ignoreFile: '.secops/audit-ignore.json',
  licenses: '.secops/licenses.json',
  level: 'high' as Severity,
  dockerfile: 'Dockerfile',
  eolTable: '.secops/runtime-eol.json',
  eolWarningDays: 90,
  /** The advisory file may be this old (days) before the gate warns, or fails under CI. */
  maxAdvisoryAgeDays: 7,
  /** OSV's API: POST /v1/querybatch, GET /v1/vulns/{id} (https://google.github.io/osv.dev/api/). */
  osvUrl: 'https://api.osv.dev',
});

/** Node's own release schedule and distro-info's Debian table: the sources `update-eol` reads. */
export const EOL_SOURCES = Object.freeze({
  nodeSchedule: 'https://raw.githubusercontent.com/nodejs/Release/main/schedule.json',
  debianCsv: '/usr/share/distro-info/debian.csv',
});

export interface RuntimeFlags {
  dockerfile?: string;
  eolTable?: string;
  eolWarningDays?: string;
}

/** The end-of-life options `secops audit` and `secops readiness` share. */
export function runtimeOptions(flags: RuntimeFlags) {
  return {
    dockerfile: flags.dockerfile,
    eolTable: flags.eolTable,
    eolWarningDays: optionalWholeNumber(flags.eolWarningDays, '--eol-warning-days', 0, 3650),
  };
}
