import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamSlots } from '../../../../service/src/components/chat/stream-slots.js';

describe('stream slots', () => {
  it('refuses a user past their cap while others still get slots', () => {
    const slots = createStreamSlots({ perUser: 2, total: 10 });
    assert.ok(slots.acquire('a'));
    assert.ok(slots.acquire('a'));
    assert.equal(slots.acquire('a'), undefined);
    assert.ok(slots.acquire('b'));
    assert.equal(slots.active(), 3);
  });

  it('refuses everyone once the process-wide cap is reached', () => {
    const slots = createStreamSlots({ perUser: 5, total: 3 });
    const releases = ['a', 'b', 'c'].map((u) => slots.acquire(u));
    assert.equal(slots.acquire('d'), undefined);
    releases[0]?.();
    assert.ok(slots.acquire('d'), 'a freed slot is usable at once');
  });

  it('stays exact when a release runs more than once (a stream ending two ways at once)', () => {
    const changes: number[] = [];
    const slots = createStreamSlots({ perUser: 3, total: 3, onChange: (n) => changes.push(n) });
    const release = slots.acquire('a');
    release?.();
    release?.();
    assert.equal(slots.active(), 0);
    assert.equal(slots.activeFor('a'), 0);
    assert.deepEqual(changes, [1, 0]);
    for (let i = 0; i < 3; i++) assert.ok(slots.acquire('a'));
    assert.equal(slots.acquire('a'), undefined, 'the cap is still exactly 3');
  });
});
