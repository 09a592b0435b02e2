import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../cli/src/lib/errors.js';
import { formatTargetTime, type Marker, pickRestorePoint } from '../../cli/src/lib/pitr/markers.js';
import { parseTargetTime, targetTimeOption } from '../../cli/src/lib/pitr/target-time.js';

const T = Date.parse('2026-12-06T10:00:00Z') * 1000;
/** Markers 1 s apart; each commit is acknowledged 2 ms after its row was written. */
const markers: Marker[] = [1, 2, 3, 4].map((seq) => ({
  seq,
  writtenAtUs: T + seq * 1_000_000,
  committedByUs: T + seq * 1_000_000 + 2000,
}));

describe('the moment a PITR drill restores to', () => {
  it('lies after one marker committed and before the next was written, so exactly the earlier markers are expected', () => {
    for (const r of [0, 0.2, 0.5, 0.9, 0.999_999]) {
      const point = pickRestorePoint(markers, () => r);
      const last = point.expected.at(-1) as number;
      const before = markers[last - 1] as Marker;
      const next = markers[last] as Marker;
      assert.ok(point.targetUs >= before.committedByUs, `after marker ${last} committed`);
      assert.ok(point.targetUs < next.writtenAtUs, `before marker ${last + 1} was written`);
      assert.deepEqual(
        point.expected,
        Array.from({ length: last }, (_, i) => i + 1),
      );
    }
  });

  it('always leaves at least one marker before the point and one after', () => {
    assert.deepEqual(pickRestorePoint(markers, () => 0).expected, [1]);
    assert.deepEqual(pickRestorePoint(markers, () => 0.999_999).expected, [1, 2, 3]);
  });

  it('does not depend on the order the markers come in', () => {
    assert.deepEqual(pickRestorePoint([...markers].reverse(), () => 0).expected, [1]);
  });

  it('refuses markers with no room between them (or a single marker)', () => {
    assert.throws(() => pickRestorePoint(markers.slice(0, 1), () => 0.5), /no gap/);
    const touching = [
      { seq: 1, writtenAtUs: 10, committedByUs: 20 },
      { seq: 2, writtenAtUs: 21, committedByUs: 30 },
    ];
    assert.throws(() => pickRestorePoint(touching, () => 0.5), /no gap/);
  });

  it('is written the way recovery_target_time reads it, to the microsecond, in UTC', () => {
    assert.equal(formatTargetTime(T + 1_234_567), '2026-12-06 10:00:01.234567+00');
    assert.equal(formatTargetTime(T + 5), '2026-12-06 10:00:00.000005+00');
  });
});

describe('secops pitr restore --to', () => {
  it('takes ISO 8601 and PostgreSQL-style timestamps with a zone, to the microsecond', () => {
    assert.equal(targetTimeOption('2026-12-06T03:12:00Z'), '2026-12-06 03:12:00.000000+00');
    assert.equal(targetTimeOption('2026-12-06 04:12:00.25+01:00'), '2026-12-06 03:12:00.250000+00');
    assert.equal(targetTimeOption('2026-12-06 03:12:00.123456+00'), '2026-12-06 03:12:00.123456+00');
    assert.equal(targetTimeOption('2026-12-05T22:12-0500'), '2026-12-06 03:12:00.000000+00');
    assert.equal(parseTargetTime('1970-01-01T00:00:01.000001Z'), 1_000_001);
  });

  it('refuses a time without a zone (whose 3 a.m.?) and things that are not times', () => {
    for (const text of ['2026-12-06 03:12:00', 'yesterday', '2026-13-45T99:00:00Z', '']) {
      assert.throws(() => parseTargetTime(text), UsageError, text);
    }
  });
});
