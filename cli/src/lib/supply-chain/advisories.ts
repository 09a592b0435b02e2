import semver from 'semver';
import { compareDebianVersions } from './debian-version.js';
import { type AdvisorySeverity, cvss3BaseScore, normalizeSeverityWord, type Severity, severityFromScore } from './severity.js';

/** One OSV record (https://ossf.github.io/osv-schema/), the parts the gate reads. */
export interface OsvRecord {
  id: string;
  summary?: string;
  details?: string;
  aliases?: string[];
  modified?: string;
  severity?: string | { type: string; score: string }[];
  database_specific?: { severity?: string; [k: string]: unknown };
  references?: { type?: string; url: string }[];
  affected?: {
    package?: { ecosystem?: string; name?: string };
    ranges?: { type: string; events: Record<string, string>[] }[];
    versions?: string[];
  }[];
}

/** An advisory about one package of one ecosystem (`npm`, `Debian:12`, `Debian:13`). */
export interface Advisory {
  id: string;
  /** Other names of the same advisory (CVE, GHSA); an ignore entry may use any of them. */
  aliases: string[];
  summary: string;
  severity: AdvisorySeverity;
  package: string;
  /** `npm`, or OSV's `Debian:<release>` (the package is then a Debian source package). */
  ecosystem: string;
  /** npm: semver ranges; a version matching any of them is affected. */
  ranges: string[];
  /** Debian: OSV range events (introduced/fixed/last_affected, in Debian version order), one list per range. */
  debianRanges: Record<string, string>[][];
  /** Versions listed explicitly as affected. */
  versions: string[];
  url?: string;
  source: 'advisory-file' | 'npm-audit';
}

/** OSV severity: database_specific.severity (GitHub), a plain word, or a CVSS v3 vector's base score. */
export function osvSeverity(record: OsvRecord): AdvisorySeverity {
  const word = normalizeSeverityWord(record.database_specific?.severity) ?? normalizeSeverityWord(record.severity);
  if (word) return word;
  if (Array.isArray(record.severity)) {
    for (const s of record.severity) {
      const score = /^CVSS:3/.test(s.score) ? cvss3BaseScore(s.score) : Number.parseFloat(s.score);
      const rated = score === undefined || Number.isNaN(score) ? undefined : severityFromScore(score);
      if (rated) return rated;
    }
  }
  return 'unknown';
}

/** OSV range events → semver ranges (`introduced`/`fixed`/`last_affected`/`limit`, in order). */
export function eventsToRanges(events: readonly Record<string, string>[]): string[] {
  const ranges: string[] = [];
  let start: string | undefined;
  const lower = (v: string) => (v === '0' ? '>=0.0.0-0' : `>=${v}`);
  for (const event of events) {
    if (event.introduced !== undefined) start = event.introduced;
    else if (start !== undefined && event.fixed !== undefined) {
      ranges.push(`${lower(start)} <${event.fixed}`);
      start = undefined;
    } else if (start !== undefined && event.last_affected !== undefined) {
      ranges.push(`${lower(start)} <=${event.last_affected}`);
      start = undefined;
    } else if (start !== undefined && event.limit !== undefined) {
      ranges.push(`${lower(start)} <${event.limit}`);
      start = undefined;
    }
  }
  if (start !== undefined) ranges.push(lower(start));
  return ranges;
}

/** OSV's ecosystem name as the gate keys it: `npm`, `Debian:13`; undefined for ecosystems it does not check. */
export function gateEcosystem(ecosystem: string | undefined): string | undefined {
  const e = (ecosystem ?? 'npm').trim();
  if (e.toLowerCase() === 'npm') return 'npm';
  const debian = /^Debian:(\d+)$/i.exec(e);
  return debian ? `Debian:${debian[1]}` : undefined;
}

/** OSV records → advisories on npm and Debian packages (other ecosystems are left out). */
export function advisoriesFromOsv(records: readonly OsvRecord[], source: Advisory['source'] = 'advisory-file'): Advisory[] {
  const out: Advisory[] = [];
  for (const record of records) {
    const severity = osvSeverity(record);
    const url = record.references?.find((r) => r.type === 'ADVISORY')?.url ?? record.references?.[0]?.url;
    for (const affected of record.affected ?? []) {
      const pkg = affected.package;
      const ecosystem = gateEcosystem(pkg?.ecosystem);
      if (!pkg?.name || !ecosystem) continue;
      const usable = (affected.ranges ?? []).filter((r) => r.type === 'SEMVER' || r.type === 'ECOSYSTEM');
      const npm = ecosystem === 'npm';
      out.push({
        id: record.id,
        aliases: record.aliases ?? [],
        summary: record.summary ?? record.details?.split('\n')[0] ?? '',
        severity,
        package: pkg.name,
        ecosystem,
        ranges: npm ? usable.flatMap((r) => eventsToRanges(r.events ?? [])) : [],
        debianRanges: npm ? [] : usable.map((r) => r.events ?? []),
        versions: affected.versions ?? [],
        ...(url ? { url } : {}),
        source,
      });
    }
  }
  return out;
}

export function isAffected(advisory: Advisory, version: string): boolean {
  if (advisory.versions.includes(version)) return true;
  if (advisory.ecosystem !== 'npm') return advisory.debianRanges.some((events) => debianEventsAffect(events, version));
  return advisory.ranges.some((r) => semver.validRange(r) !== null && semver.satisfies(version, r, { includePrerelease: true }));
}

/**
 * OSV's evaluation of one ECOSYSTEM range (https://ossf.github.io/osv-schema/#evaluation) in Debian
 * version order: affected from an `introduced` up to (not including) the next `fixed` or `limit`, or
 * up to and including a `last_affected`. "0" introduces every version.
 */
export function debianEventsAffect(events: readonly Record<string, string>[], version: string): boolean {
  const below = (bound: string) => compareDebianVersions(version, bound) < 0;
  let affected = false;
  for (const event of events) {
    if (event.introduced !== undefined && (event.introduced === '0' || !below(event.introduced))) affected = true;
    else if (event.fixed !== undefined && !below(event.fixed)) affected = false;
    else if (event.limit !== undefined && !below(event.limit)) affected = false;
    else if (event.last_affected !== undefined && compareDebianVersions(version, event.last_affected) > 0) affected = false;
  }
  return affected;
}

/** Validates the committed advisory file's shape; returns the records and the problems. */
export function parseOsvFile(value: unknown): { records: OsvRecord[]; problems: string[] } {
  const list = Array.isArray(value) ? value : (value as { vulns?: unknown } | null)?.vulns;
  if (!Array.isArray(list)) return { records: [], problems: ['expected an array of OSV records'] };
  const problems: string[] = [];
  list.forEach((r, i) => {
    if (!r || typeof r !== 'object' || typeof (r as OsvRecord).id !== 'string') problems.push(`record ${i}: \`id\` is required`);
    else if (!Array.isArray((r as OsvRecord).affected)) problems.push(`${(r as OsvRecord).id}: \`affected\` must be an array`);
  });
  return { records: list as OsvRecord[], problems };
}

interface NpmAuditVia {
  source?: number;
  name?: string;
  title?: string;
  url?: string;
  severity?: string;
  range?: string;
}

/** Is this an `npm audit --json` (report version 2) document? */
export function isNpmAuditReport(value: unknown): value is { vulnerabilities: Record<string, { via?: unknown[] }> } {
  return !!value && typeof value === 'object' && typeof (value as { vulnerabilities?: unknown }).vulnerabilities === 'object';
}

/**
 * `npm audit --json` → OSV records. Each `via` object is one advisory; `via` strings only point at
 * another vulnerable package (the transitive path) and carry nothing new.
 */
export function osvFromNpmAudit(report: { vulnerabilities: Record<string, { via?: unknown[] }> }): OsvRecord[] {
  const byId = new Map<string, OsvRecord>();
  for (const entry of Object.values(report.vulnerabilities)) {
    for (const via of entry.via ?? []) {
      if (!via || typeof via !== 'object') continue;
      const v = via as NpmAuditVia;
      if (!v.name || !v.range) continue;
      const id = v.url?.match(/GHSA-[\w-]+$/)?.[0] ?? `NPM-${v.source ?? v.name}`;
      const severity: Severity | undefined = normalizeSeverityWord(v.severity);
      const record: OsvRecord = byId.get(id) ?? {
        id,
        summary: v.title ?? '',
        ...(severity ? { database_specific: { severity: severity.toUpperCase() } } : {}),
        ...(v.url ? { references: [{ type: 'ADVISORY', url: v.url }] } : {}),
        affected: [],
      };
      if (!record.affected!.some((a) => a.package?.name === v.name)) {
        record.affected!.push({
          package: { ecosystem: 'npm', name: v.name },
          ranges: [{ type: 'SEMVER', events: rangeToEvents(v.range) }],
        });
      }
      byId.set(id, record);
    }
  }
  return [...byId.values()];
}

/** A semver range → OSV events, one introduced/fixed (or last_affected) pair per comparator set. */
export function rangeToEvents(range: string): Record<string, string>[] {
  const parsed = semver.validRange(range) === null ? undefined : new semver.Range(range, { includePrerelease: true });
  if (!parsed) return [{ introduced: '0' }];
  const events: Record<string, string>[] = [];
  for (const set of parsed.set) {
    let introduced = '0';
    let upper: Record<string, string> | undefined;
    for (const c of set) {
      if (c.value === '') continue; // the any-version comparator
      const v = c.semver.version;
      if (c.operator === '>=' || c.operator === '') introduced = v;
      if (c.operator === '>') introduced = v; // approximation: OSV has no exclusive lower bound
      if (c.operator === '<') upper = { fixed: v };
      if (c.operator === '<=' || c.operator === '') upper = { last_affected: v };
    }
    events.push({ introduced: introduced === '0.0.0-0' ? '0' : introduced });
    if (upper) events.push(upper);
  }
  return events;
}
