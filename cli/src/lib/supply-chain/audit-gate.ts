import { type Advisory, isAffected } from './advisories.js';
import { daysUntilExpiry, IGNORE_MAX_DAYS, type IgnoreEntry, isExpired } from './ignores.js';
import type { InstalledPackage } from './installed.js';
import { checkLicense, declaredLicense, type LicensePolicy } from './licenses.js';
import { type AdvisorySeverity, type Severity, severityRank } from './severity.js';

/** Everything the gate decides on; gathering it (files, npm) is the command's job. */
export interface AuditInputs {
  packages: readonly InstalledPackage[];
  advisories: readonly Advisory[];
  ignores: readonly IgnoreEntry[];
  policy: LicensePolicy;
  level: Severity;
  /** YYYY-MM-DD; injected so expiry is testable. */
  today: string;
}

export interface Finding {
  id: string;
  /** `npm` or `Debian:<release>`. */
  ecosystem: string;
  package: string;
  version: string;
  severity: AdvisorySeverity;
  summary: string;
  url?: string;
  /** At or above --level and not ignored. */
  blocking: boolean;
  ignored?: { reason: string; expires: string };
}

export interface LicenseFinding {
  package: string;
  version: string;
  license: string | null;
  problem: 'missing' | 'unparsable' | 'not-allowed';
}

export interface AuditOutcome {
  ok: boolean;
  level: Severity;
  today: string;
  packagesChecked: number;
  vulnerabilities: Finding[];
  licenses: { violations: LicenseFinding[]; exceptionsUsed: { package: string; license: string; reason: string }[] };
  banned: { package: string; version: string; reason: string }[];
  ignores: { expired: IgnoreEntry[]; unused: IgnoreEntry[] };
  /** One line per reason the gate failed. */
  failures: string[];
}

export function evaluateAudit(input: AuditInputs): AuditOutcome {
  const vulnerabilities: Finding[] = [];
  const usedIgnores = new Set<IgnoreEntry>();
  /** Entries accepting a critical (or unrated) advisory: the shorter time frame applies to them. */
  const criticalIgnores = new Set<IgnoreEntry>();
  const expired = input.ignores.filter((e) => isExpired(e, input.today));
  // Advisories name npm packages, and Debian source packages (a binary package carries its source's name).
  const byKey = new Map<string, InstalledPackage[]>();
  const add = (key: string, p: InstalledPackage) => byKey.set(key, [...(byKey.get(key) ?? []), p]);
  for (const p of input.packages) {
    add(`${p.ecosystem ?? 'npm'}|${p.name}`, p);
    if (p.sourceName && p.sourceName !== p.name) add(`${p.ecosystem ?? 'npm'}|${p.sourceName}`, p);
  }

  const seen = new Set<string>();
  for (const advisory of input.advisories) {
    for (const pkg of byKey.get(`${advisory.ecosystem}|${advisory.package}`) ?? []) {
      const key = `${advisory.id}|${pkg.name}@${pkg.version}`;
      if (seen.has(key) || !isAffected(advisory, pkg.version)) continue;
      seen.add(key);
      const ignore = input.ignores.find(
        (e) =>
          (e.id === advisory.id || advisory.aliases.includes(e.id)) &&
          (e.package === undefined || e.package === pkg.name) &&
          !isExpired(e, input.today),
      );
      if (ignore) usedIgnores.add(ignore);
      if (ignore && severityRank(advisory.severity) >= severityRank('critical')) criticalIgnores.add(ignore);
      vulnerabilities.push({
        id: advisory.id,
        ecosystem: advisory.ecosystem,
        package: pkg.name,
        version: pkg.version,
        severity: advisory.severity,
        summary: advisory.summary,
        ...(advisory.url ? { url: advisory.url } : {}),
        blocking: !ignore && severityRank(advisory.severity) >= severityRank(input.level),
        ...(ignore ? { ignored: { reason: ignore.reason, expires: ignore.expires } } : {}),
      });
    }
  }
  vulnerabilities.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.package.localeCompare(b.package));

  const violations: LicenseFinding[] = [];
  const exceptionsUsed: AuditOutcome['licenses']['exceptionsUsed'] = [];
  // Licences are gated for npm packages only: Debian packages declare theirs in
  // /usr/share/doc/*/copyright, which image SBOMs rarely carry (docs/supply-chain.md).
  for (const pkg of input.packages.filter((p) => (p.ecosystem ?? 'npm') === 'npm')) {
    const verdict = checkLicense(pkg, input.policy);
    if (verdict.ok && verdict.via === 'exception')
      exceptionsUsed.push({ package: pkg.name, license: verdict.license, reason: verdict.reason ?? '' });
    if (!verdict.ok)
      violations.push({ package: pkg.name, version: pkg.version, license: declaredLicense(pkg), problem: verdict.problem });
  }

  // A ban names a package in any ecosystem (an npm package, a Debian binary package).
  const banned = input.policy.banned.flatMap((b) =>
    input.packages.filter((p) => p.name === b.package).map((p) => ({ package: p.name, version: p.version, reason: b.reason })),
  );

  const failures: string[] = [];
  for (const f of vulnerabilities.filter((v) => v.blocking))
    failures.push(`${f.id} (${f.severity}) in ${f.package}@${f.version}: ${f.summary}`);
  for (const e of expired) failures.push(`ignore entry ${e.id} expired on ${e.expires}: re-assess it, then renew or remove it`);
  // Time frames (docs/release.md): an exception is short-lived, a critical one shorter still.
  for (const e of input.ignores) {
    const limit = criticalIgnores.has(e) ? IGNORE_MAX_DAYS.critical : IGNORE_MAX_DAYS.other;
    if (!isExpired(e, input.today) && daysUntilExpiry(e, input.today) > limit)
      failures.push(
        `ignore entry ${e.id} expires on ${e.expires}, more than ${limit} days after ${input.today}: ${criticalIgnores.has(e) ? 'a critical advisory' : 'an advisory'} may be accepted for at most ${limit} days at a time (docs/release.md)`,
      );
  }
  for (const v of violations)
    failures.push(
      `licence of ${v.package}@${v.version} is ${v.problem === 'missing' ? 'not declared' : `${v.problem}: ${v.license}`}`,
    );
  for (const b of banned) failures.push(`banned package ${b.package}@${b.version}: ${b.reason}`);

  return {
    ok: failures.length === 0,
    level: input.level,
    today: input.today,
    packagesChecked: input.packages.length,
    vulnerabilities,
    licenses: { violations, exceptionsUsed },
    banned,
    ignores: { expired, unused: input.ignores.filter((e) => !usedIgnores.has(e) && !expired.includes(e)) },
    failures,
  };
}
