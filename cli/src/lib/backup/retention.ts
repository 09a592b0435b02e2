/**
 * Grandfather-father-son retention: keep the newest backup of each of the `daily` most recent days
 * that have a backup, and of each of the `weekly` most recent ISO weeks that have one; delete the
 * rest. Counting days that have backups (as borg and restic do) rather than calendar days means a
 * pause in backups never deletes the last good ones. The newest backup is always kept. Days and
 * weeks are UTC.
 */

export interface RetentionPolicy {
  daily: number;
  weekly: number;
}

export interface Dated {
  createdAt: string;
}

export interface RetentionPlan<T> {
  keep: { item: T; reasons: string[] }[];
  remove: T[];
}

export function planRetention<T extends Dated>(items: readonly T[], policy: RetentionPolicy): RetentionPlan<T> {
  const newestFirst = [...items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const reasons = new Map<T, string[]>();
  const mark = (item: T, reason: string) => reasons.set(item, [...(reasons.get(item) ?? []), reason]);
  const bucket = (count: number, keyOf: (d: Date) => string, label: string) => {
    const seen = new Set<string>();
    for (const item of newestFirst) {
      const key = keyOf(new Date(item.createdAt));
      if (seen.has(key)) continue;
      if (seen.size >= count) break;
      seen.add(key);
      mark(item, `${label} ${key}`);
    }
  };
  bucket(policy.daily, utcDay, 'daily');
  bucket(policy.weekly, isoWeek, 'weekly');
  const newest = newestFirst[0];
  if (newest && !reasons.has(newest)) mark(newest, 'newest');
  return {
    keep: newestFirst.filter((i) => reasons.has(i)).map((item) => ({ item, reasons: reasons.get(item) ?? [] })),
    remove: newestFirst.filter((i) => !reasons.has(i)),
  };
}

export function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** ISO 8601 week, e.g. 2026-W48 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeek(d: Date): string {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
