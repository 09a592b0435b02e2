import { UsageError } from '../errors.js';
import { formatTargetTime } from './markers.js';

/**
 * `--to 2026-12-06T03:12:00Z` (or `2026-12-06 03:12:00.250+01:00`) → microseconds since the epoch. A
 * time without a zone is refused: at 3 a.m. nobody should have to guess whose midnight it means.
 */
export function parseTargetTime(text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?(?:\.(\d{1,6}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `--to must be a timestamp with a time zone, e.g. 2026-12-06T03:12:00Z or 2026-12-06 04:12:00+01:00 (got "${text}")`,
    );
  }
  const zone = (m[5] as string).toUpperCase() === 'Z' ? 'Z' : normaliseZone(m[5] as string);
  const ms = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}${zone}`);
  if (Number.isNaN(ms)) throw new UsageError(`--to is not a valid time: ${text}`);
  return ms * 1000 + Number((m[4] ?? '').padEnd(6, '0'));
}

function normaliseZone(zone: string): string {
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2, 4).padEnd(2, '0')}`;
}

export function targetTimeOption(text: string): string {
  return formatTargetTime(parseTargetTime(text));
}

/** A recovery_target_time as written by `formatTargetTime` (or given by an operator) → a Date (ms). */
export function targetDate(text: string): Date {
  return new Date(Math.floor(parseTargetTime(text) / 1000));
}
