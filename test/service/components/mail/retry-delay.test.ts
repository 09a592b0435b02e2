/**
 * The wait before a failed mail's next try (retryDelayMs): 30 s, 1 min, 2 min, … doubling per failed
 * try, capped at 1 h, with jitter within the top half — never under half the delay, never over it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { retryDelayMs } from '../../../../service/src/components/mail/index.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('retryDelayMs', () => {
  it('doubles from 30 s per failed try and stops at 1 h', () => {
    const tops = [30 * SECOND, MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE, 32 * MINUTE, HOUR, HOUR, HOUR];
    assert.deepEqual(
      tops.map((_, i) => retryDelayMs(i + 1, () => 1)),
      tops,
      'the top of each range',
    );
    assert.deepEqual(
      tops.map((_, i) => retryDelayMs(i + 1, () => 0)),
      tops.map((d) => d / 2),
      'the bottom of each range: half',
    );
  });

  it('stays at 1 h however many tries failed (MAIL_MAX_ATTEMPTS goes up to 100, and beyond does not overflow)', () => {
    for (const n of [8, 20, 100, 1024, 10_000]) {
      assert.equal(
        retryDelayMs(n, () => 1),
        HOUR,
      );
      assert.equal(
        retryDelayMs(n, () => 0),
        HOUR / 2,
      );
    }
  });

  it('is jittered within the top half: between half the delay and the whole of it, in whole milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const top = Math.min(30 * SECOND * 2 ** (n - 1), HOUR);
        const delay = retryDelayMs(n, () => r);
        return Number.isInteger(delay) && delay >= top / 2 && delay <= top;
      }),
    );
  });

  it('spreads over the whole top half with Math.random (so replicas retrying together drift apart)', () => {
    const samples = Array.from({ length: 2000 }, () => retryDelayMs(1));
    assert.ok(samples.every((d) => d >= 15 * SECOND && d <= 30 * SECOND));
    assert.ok(Math.min(...samples) < 17 * SECOND && Math.max(...samples) > 28 * SECOND, 'both ends of the range are reached');
    assert.ok(new Set(samples).size > 1000, 'not a handful of values');
  });
});
