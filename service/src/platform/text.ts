/** Small rules about text that several components apply, written once. */

/** A canonical lower-case UUID (what PostgreSQL's gen_random_uuid and randomUUID() produce). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Length in Unicode code points (what limits in docs/api.md count), not UTF-16 units. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The first `limit` code points of `s` (never splitting a surrogate pair). */
export function firstCodePoints(s: string, limit: number): string {
  let end = 0;
  let count = 0;
  for (const codePoint of s) {
    if (count === limit) break;
    end += codePoint.length;
    count += 1;
  }
  return s.slice(0, end);
}
