import { type OsvRecord, parseOsvFile } from './advisories.js';

/**
 * The committed advisory snapshot (`.secops/advisories.osv.json`): OSV records plus the day they
 * were retrieved and where from, in one document so that neither can change without the other:
 *   { "retrieved": "YYYY-MM-DD", "sources": ["…"], "vulns": [OSV records] }
 * A bare array of records (the older format, or an OSV export) has no date.
 */
export interface AdvisorySnapshot {
  retrieved?: string;
  sources: string[];
  records: OsvRecord[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readAdvisorySnapshot(value: unknown): { snapshot: AdvisorySnapshot; problems: string[] } {
  const { records, problems } = parseOsvFile(value);
  const meta = (Array.isArray(value) ? {} : (value ?? {})) as { retrieved?: unknown; sources?: unknown };
  if (meta.retrieved !== undefined && (typeof meta.retrieved !== 'string' || !DATE.test(meta.retrieved)))
    problems.push('`retrieved` must be a date, YYYY-MM-DD');
  const sources = Array.isArray(meta.sources) ? meta.sources.filter((s): s is string => typeof s === 'string') : [];
  const retrieved = typeof meta.retrieved === 'string' && DATE.test(meta.retrieved) ? meta.retrieved : undefined;
  return { snapshot: { ...(retrieved ? { retrieved } : {}), sources, records }, problems };
}

/** The document written back: records sorted by id, the date and the sources on top. */
export function snapshotDocument(snapshot: AdvisorySnapshot): Record<string, unknown> {
  return {
    $comment:
      'OSV advisory snapshot for `secops audit` (docs/supply-chain.md). Refresh: npm run audit:update (OSV for the installed npm packages; add --sbom IMAGE.cdx.json for the Debian packages of the image).',
    retrieved: snapshot.retrieved,
    sources: snapshot.sources,
    vulns: [...snapshot.records].sort((a, b) => a.id.localeCompare(b.id)),
  };
}

export interface Freshness {
  retrieved: string | null;
  ageDays: number | null;
  maxAgeDays: number;
  stale: boolean;
  message: string;
}

/** How old the snapshot is on `today`; undated or older than `maxAgeDays` is stale. */
export function snapshotFreshness(retrieved: string | undefined, today: string, maxAgeDays: number): Freshness {
  if (!retrieved)
    return {
      retrieved: null,
      ageDays: null,
      maxAgeDays,
      stale: true,
      message: 'the advisory file records no retrieval date: refresh it with `npm run audit:update`',
    };
  const ageDays = Math.round((Date.parse(`${today}T00:00:00Z`) - Date.parse(`${retrieved}T00:00:00Z`)) / 86_400_000);
  const stale = ageDays > maxAgeDays;
  return {
    retrieved,
    ageDays,
    maxAgeDays,
    stale,
    message: stale
      ? `the advisory data is ${ageDays} days old (retrieved ${retrieved}; --max-advisory-age ${maxAgeDays}): refresh it with \`npm run audit:update\``
      : `advisory data retrieved ${retrieved} (${ageDays} days old, limit ${maxAgeDays})`,
  };
}
