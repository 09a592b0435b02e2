/**
 * Accepted advisories (`.secops/audit-ignore.json`): each entry names an advisory id (optionally one
 * package), says why, and expires. An entry past its expiry fails the gate until someone re-decides.
 */
export interface IgnoreEntry {
  id: string;
  package?: string;
  reason: string;
  /** YYYY-MM-DD, inclusive: the entry still applies on that day. */
  expires: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isRealDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

/** Parses the ignore file; entries without a reason or a valid expiry are problems, not ignores. */
export function parseIgnoreFile(value: unknown): { entries: IgnoreEntry[]; problems: string[] } {
  const list = Array.isArray(value) ? value : (value as { ignore?: unknown } | null)?.ignore;
  if (!Array.isArray(list))
    return { entries: [], problems: ['the ignore file must be an array of entries (or { "ignore": [...] })'] };
  const entries: IgnoreEntry[] = [];
  const problems: string[] = [];
  list.forEach((raw, index) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const label = typeof e.id === 'string' && e.id ? e.id : `entry ${index}`;
    const missing: string[] = [];
    if (typeof e.id !== 'string' || !e.id.trim()) missing.push('id');
    if (typeof e.reason !== 'string' || !e.reason.trim()) missing.push('reason');
    if (typeof e.expires !== 'string' || !isRealDate(e.expires)) missing.push('expires (YYYY-MM-DD)');
    if (e.package !== undefined && typeof e.package !== 'string') missing.push('package (a string when given)');
    if (missing.length > 0) problems.push(`${label}: needs ${missing.join(', ')}`);
    else
      entries.push({
        id: e.id as string,
        reason: e.reason as string,
        expires: e.expires as string,
        ...(e.package ? { package: e.package as string } : {}),
      });
  });
  return { entries, problems };
}

export function isExpired(entry: IgnoreEntry, today: string): boolean {
  return entry.expires < today; // ISO dates compare as strings
}

/**
 * The remediation time frames of docs/release.md, as the longest an advisory may be accepted for: a
 * critical one 14 days (release the fix within 72 hours, or accept it for at most 14 days), any other
 * 90 days. An entry expiring later fails the gate, so no exception outlives the policy.
 */
export const IGNORE_MAX_DAYS = { critical: 14, other: 90 } as const;

/** Whole days from `today` to the entry's expiry (both YYYY-MM-DD). */
export function daysUntilExpiry(entry: IgnoreEntry, today: string): number {
  return Math.round((Date.parse(`${entry.expires}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000);
}
