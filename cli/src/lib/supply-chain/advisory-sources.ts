import { existsSync } from 'node:fs';
import { CliError } from '../errors.js';
import { type Advisory, advisoriesFromOsv, type OsvRecord } from './advisories.js';
import { readAdvisorySnapshot } from './advisory-snapshot.js';
import { readJsonFile } from './files.js';
import { npmAuditRecords } from './npm-audit.js';

/** Where the release gate's advisories came from, as its report states. */
export interface AdvisorySources {
  npmAudit: { used: boolean; note: string };
  advisoryFile: { path: string; records: number; retrieved: string | null; sources: string[] } | null;
}

/** CI=true (GitHub Actions, GitLab, .ci/run) or any other non-empty value but "false"/"0". */
export function isCi(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

export interface AdvisoryInputs {
  cwd: string;
  /** The advisory file (absolute). */
  path: string;
  /** Named on the command line: then it must exist. */
  explicit: boolean;
  /** Skip npm audit. */
  offline: boolean;
  /** The gate checks an image SBOM: npm audit (which reads this checkout's lockfile) does not apply. */
  sbom: boolean;
}

/** The advisories the gate checks: the advisory file, plus npm audit's answer when it is asked and answers. */
export async function collectAdvisories(
  input: AdvisoryInputs,
): Promise<{ advisories: Advisory[]; sources: AdvisorySources; retrieved?: string }> {
  const { cwd, path: filePath } = input;
  let records: OsvRecord[] = [];
  let retrieved: string | undefined;
  let advisoryFile: AdvisorySources['advisoryFile'] = null;
  if (input.explicit || existsSync(filePath)) {
    const { snapshot, problems } = readAdvisorySnapshot(readJsonFile(filePath, 'advisory file'));
    if (problems.length > 0) throw new CliError(`invalid advisory file ${filePath}:\n  - ${problems.join('\n  - ')}`);
    records = snapshot.records;
    retrieved = snapshot.retrieved;
    advisoryFile = { path: filePath, records: records.length, retrieved: retrieved ?? null, sources: snapshot.sources };
  }
  const fromFile = advisoriesFromOsv(records, 'advisory-file');
  if (input.offline || input.sbom) {
    const note = input.sbom
      ? 'SBOM mode: the advisory file only (npm audit reads this checkout, not the image)'
      : 'npm audit skipped (--offline); using the advisory file only';
    return { advisories: fromFile, sources: { npmAudit: { used: false, note }, advisoryFile }, retrieved };
  }
  const live = await npmAuditRecords(cwd);
  if (!live.records) {
    const note = `npm audit unavailable (${live.reason}); using the offline advisory file only${advisoryFile ? ` (${advisoryFile.records} records)` : ' — none found, so no advisories were checked'}. Refresh it with \`npm run audit:update\` on a machine that reaches the advisory service.`;
    return { advisories: fromFile, sources: { npmAudit: { used: false, note }, advisoryFile }, retrieved };
  }
  return {
    advisories: [...fromFile, ...advisoriesFromOsv(live.records, 'npm-audit')],
    sources: { npmAudit: { used: true, note: `npm audit answered: ${live.records.length} advisories` }, advisoryFile },
    retrieved,
  };
}
