import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConcurrencyRejection, createConcurrencyLimit } from '../../../service/src/platform/concurrency-limit.js';

class Rejected extends Error {
  constructor(readonly reason: ConcurrencyRejection) {
    super(reason);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Lets pending promise callbacks (and the limiter's hand-overs) run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('concurrency limit', () => {
  it('never runs more than `max` functions at once, and starts waiters in arrival order', async () => {
    const limit = createConcurrencyLimit({ max: 3, maxQueue: 100, onReject: (r) => new Rejected(r) });
    let current = 0;
    let peak = 0;
    const started: number[] = [];
    const tasks = Array.from({ length: 20 }, (_, i) =>
      limit.run(async () => {
        started.push(i);
        current++;
        peak = Math.max(peak, current);
        for (let k = 0; k < (i % 4) + 1; k++) await settle();
        current--;
        return i;
      }),
    );

    assert.deepEqual(limit.stats(), { running: 3, queued: 17, rejected: 0 });
    assert.deepEqual(await Promise.all(tasks), [...Array(20).keys()]);
    assert.equal(peak, 3);
    assert.deepEqual(started, [...Array(20).keys()]);
    assert.deepEqual(limit.stats(), { running: 0, queued: 0, rejected: 0 });
  });

  it('refuses the caller beyond maxQueue at once with the onReject error, leaving the others alone', async () => {
    const limit = createConcurrencyLimit({ max: 1, maxQueue: 2, onReject: (r) => new Rejected(r) });
    const gate = deferred();
    const running = limit.run(() => gate.promise);
    const queued = [limit.run(async () => 'a'), limit.run(async () => 'b')];

    await assert.rejects(
      limit.run(async () => 'c'),
      (err: unknown) => err instanceof Rejected && err.reason === 'queue_full',
    );
    assert.deepEqual(limit.stats(), { running: 1, queued: 2, rejected: 1 });

    gate.resolve();
    await running;
    assert.deepEqual(await Promise.all(queued), ['a', 'b']);
    assert.deepEqual(limit.stats(), { running: 0, queued: 0, rejected: 1 });
  });

  it('with maxQueue 0, refuses whenever every slot is busy', async () => {
    const limit = createConcurrencyLimit({ max: 1, maxQueue: 0, onReject: (r) => new Rejected(r) });
    const gate = deferred();
    const running = limit.run(() => gate.promise);
    await assert.rejects(
      limit.run(async () => 1),
      Rejected,
    );
    gate.resolve();
    await running;
    assert.equal(await limit.run(async () => 2), 2);
  });

  it('releases the slot when the function rejects or throws synchronously', async () => {
    const limit = createConcurrencyLimit({ max: 1, maxQueue: 1, onReject: (r) => new Rejected(r) });
    const gate = deferred();
    const failing = limit.run(async () => {
      await gate.promise;
      throw new Error('boom');
    });
    const waiting = limit.run(async () => 'after the failure');
    gate.resolve();
    await assert.rejects(failing, /boom/);
    assert.equal(await waiting, 'after the failure');

    await assert.rejects(
      limit.run(() => {
        throw new Error('sync boom');
      }),
      /sync boom/,
    );
    assert.deepEqual(limit.stats(), { running: 0, queued: 0, rejected: 0 });
    assert.equal(await limit.run(async () => 'still usable'), 'still usable');
  });

  it('refuses a waiter that waited longer than queueTimeoutMs, and only that one', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const limit = createConcurrencyLimit({ max: 1, maxQueue: 5, queueTimeoutMs: 100, onReject: (r) => new Rejected(r) });
    const gate = deferred();
    const running = limit.run(() => gate.promise);
    const early = limit.run(async () => 'early');
    const earlyOutcome = early.then(
      () => 'resolved',
      (err: unknown) => err,
    );

    t.mock.timers.tick(99);
    await settle();
    assert.deepEqual(limit.stats(), { running: 1, queued: 1, rejected: 0 });
    const late = limit.run(async () => 'late'); // queued at t=99: its deadline is t=199

    t.mock.timers.tick(1);
    const err = await earlyOutcome;
    assert.ok(err instanceof Rejected && err.reason === 'queue_timeout', String(err));
    assert.deepEqual(limit.stats(), { running: 1, queued: 1, rejected: 1 });

    gate.resolve(); // the slot goes to `late` before its deadline; its timer must not fire afterwards
    await running;
    assert.equal(await late, 'late');
    t.mock.timers.tick(1000);
    await settle();
    assert.deepEqual(limit.stats(), { running: 0, queued: 0, rejected: 1 });
  });

  it('refuses nonsensical options at construction', () => {
    const onReject = (r: ConcurrencyRejection) => new Rejected(r);
    assert.throws(() => createConcurrencyLimit({ max: 0, maxQueue: 1, onReject }), RangeError);
    assert.throws(() => createConcurrencyLimit({ max: 1.5, maxQueue: 1, onReject }), RangeError);
    assert.throws(() => createConcurrencyLimit({ max: 1, maxQueue: -1, onReject }), RangeError);
    assert.throws(() => createConcurrencyLimit({ max: 1, maxQueue: 1, queueTimeoutMs: Number.NaN, onReject }), RangeError);
  });
});
