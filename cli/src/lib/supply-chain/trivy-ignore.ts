import { stringify } from 'yaml';
import { type IgnoreEntry, isExpired, parseIgnoreFile } from './ignores.js';

/**
 * One list of accepted advisories for the npm tree and the image: `.secops/audit-ignore.json` becomes
 * Trivy's YAML ignore file (https://trivy.dev/latest/docs/configuration/filtering/#trivyignoreyaml)
 * under the same rules as `secops audit`: every entry needs a reason and an expiry, and an expired entry
 * (or one without them) fails instead of being written. The reason becomes Trivy's `statement`, the
 * expiry its `expired_at`. An entry's `package` names an npm package, not an image (OS) package, so it
 * is not carried over: in the image scan an accepted id is accepted for every package.
 */
export interface TrivyIgnoreResult {
  yaml: string;
  entries: IgnoreEntry[];
  problems: string[];
}

export function toTrivyIgnore(ignoreFile: unknown, today: string): TrivyIgnoreResult {
  const { entries, problems } = parseIgnoreFile(ignoreFile);
  const expired = entries.filter((e) => isExpired(e, today));
  const all = [...problems, ...expired.map((e) => `${e.id}: expired on ${e.expires} (${e.reason}); decide again or remove it`)];
  const live = entries.filter((e) => !isExpired(e, today));
  const vulnerabilities = live.map((e) => ({ id: e.id, statement: e.reason, expired_at: e.expires }));
  return { yaml: stringify({ vulnerabilities }), entries: live, problems: all };
}
