import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../../service/src/platform/errors.js';
import { assemblePage, decodeCursor, encodeCursor } from '../../../service/src/platform/pagination.js';

const ID = '0b6c3f7e-9a1d-4c2b-8e5f-1a2b3c4d5e6f';

describe('pagination (one cursor codec and page assembly for every list)', () => {
  it('a cursor round-trips the keyset, PostgreSQL timestamp text and all', () => {
    const keyset = { at: '2026-12-06 02:01:55.083123+00', id: ID };
    assert.deepEqual(decodeCursor(encodeCursor(keyset)), keyset);
  });

  it('refuses a cursor it did not issue with 400 validation_failed on `cursor`, impossible dates included', () => {
    for (const forged of ['not-a-cursor', encodeCursor({ at: '2021-02-30 00:00:00+00', id: ID }), encodeCursor({ at: '2026-01-01 00:00:00+16', id: ID }), encodeCursor({ at: '2026-01-01 00:00:00+00', id: 'x' })]) {
      assert.throws(
        () => decodeCursor(forged),
        (err: unknown) => err instanceof AppError && err.code === 'validation_failed' && JSON.stringify(err.extensions).includes('cursor'),
      );
    }
  });

  it('gives a next cursor only when the extra row shows another page, pointing at the last item', () => {
    const rows = [1, 2, 3].map((n) => ({ id: `${ID.slice(0, -1)}${n}`, cursor_at: `2026-12-06 00:00:0${n}+00`, n }));
    const full = assemblePage(rows, 2, (r) => r.n);
    assert.deepEqual(full.items, [1, 2]);
    assert.deepEqual(decodeCursor(full.next_cursor as string), { at: rows[1]!.cursor_at, id: rows[1]!.id });
    assert.deepEqual(assemblePage(rows, 3, (r) => r.n), { items: [1, 2, 3], next_cursor: null });
  });
});
