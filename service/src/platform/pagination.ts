import { AppError } from './errors.js';
import { UUID } from './text.js';

/**
 * Keyset pagination as docs/api.md describes it: an opaque `cursor` (base64url of the last row's
 * timestamp and id) and pages of `{items, next_cursor}`. One codec and one page assembly for every list.
 */
export interface Keyset {
  /** PostgreSQL's timestamptz text of the row's sort key. */
  at: string;
  id: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function encodeCursor(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.at, k.id])).toString('base64url');
}

/** PostgreSQL's timestamptz text form (what `::text` gives), the only form a cursor may carry. */
const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?:[+-](\d{2})(?::?(\d{2}))?|Z)$/;

/**
 * The shape alone is not enough: PostgreSQL rejects `2021-02-30` or an offset of `+16` with an error,
 * which would surface as a 500 for a forged cursor (found by the fuzz suite, issue 12).
 */
function isPgTimestamp(at: string): boolean {
  const m = PG_TIMESTAMP.exec(at);
  if (!m) return false;
  const n = (i: number) => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [n(1), n(2), n(3), n(4), n(5), n(6), n(8), n(9)];
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  if (offsetHours > 15 || offsetMinutes > 59) return false;
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month, 0); // day 0 of the next month: the month's last day, leap years included
  return day <= lastDay.getUTCDate();
}

/** The keyset a cursor this API issued stands for; anything else is 400 `validation_failed` on `cursor`. */
export function decodeCursor(cursor: string): Keyset {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof at === 'string' && typeof id === 'string' && UUID.test(id) && isPgTimestamp(at)) return { at, id };
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', {
    detail: 'The query is not valid.',
    extensions: { errors: [{ field: 'cursor', message: 'Not a cursor this API issued.' }] },
  });
}

/**
 * A page from `limit + 1` rows read after the cursor: the first `limit` as items, and a cursor to the
 * next page only when the extra row shows there is one.
 */
export function assemblePage<R extends { id: string; cursor_at?: string | null }, T>(
  rows: readonly R[],
  limit: number,
  view: (row: R) => T,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    next_cursor: rows.length > limit && last?.cursor_at ? encodeCursor({ at: last.cursor_at, id: last.id }) : null,
  };
}
