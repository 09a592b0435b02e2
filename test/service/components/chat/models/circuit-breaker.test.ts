import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BreakerState, createCircuitBreaker } from '../../../../../service/src/components/chat/models/circuit-breaker.js';

function frozenClock(start = 1_000) {
  return {
    t: start,
    now() {
      return this.t;
    },
  };
}

function failTimes(breaker: ReturnType<typeof createCircuitBreaker>, n: number) {
  for (let i = 0; i < n; i++) breaker.tryAcquire()!.failure();
}

describe('circuit breaker', () => {
  it('stays closed through 4 consecutive failures and opens at the 5th (defaults)', () => {
    const breaker = createCircuitBreaker({ clock: frozenClock() });
    failTimes(breaker, 4);
    assert.equal(breaker.state, 'closed');
    failTimes(breaker, 1);
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.tryAcquire(), undefined);
  });

  it('a success resets the count of consecutive failures', () => {
    const breaker = createCircuitBreaker({ clock: frozenClock(), failureThreshold: 3 });
    failTimes(breaker, 2);
    breaker.tryAcquire()!.success();
    failTimes(breaker, 2);
    assert.equal(breaker.state, 'closed');
    failTimes(breaker, 1);
    assert.equal(breaker.state, 'open');
  });

  it('stays open for openMs (default 30 s), then lets exactly one probe through', () => {
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ clock, failureThreshold: 1 });
    failTimes(breaker, 1);
    clock.t += 29_999;
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.tryAcquire(), undefined);
    clock.t += 1;
    assert.equal(breaker.state, 'half-open');
    const probe = breaker.tryAcquire();
    assert.ok(probe);
    assert.equal(breaker.tryAcquire(), undefined, 'a second call while the probe is out fails fast');
    probe.success();
    assert.equal(breaker.state, 'closed');
    assert.ok(breaker.tryAcquire());
  });

  it('a failed probe re-opens the circuit for another full openMs', () => {
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ clock, failureThreshold: 1, openMs: 1000 });
    failTimes(breaker, 1);
    clock.t += 1000;
    breaker.tryAcquire()!.failure();
    assert.equal(breaker.state, 'open');
    clock.t += 999;
    assert.equal(breaker.state, 'open');
    clock.t += 1;
    assert.equal(breaker.state, 'half-open');
  });

  it('a released probe (caller gave up) frees the slot for another probe without closing', () => {
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ clock, failureThreshold: 1, openMs: 1000 });
    failTimes(breaker, 1);
    clock.t += 1000;
    breaker.tryAcquire()!.release();
    assert.equal(breaker.state, 'half-open');
    assert.ok(breaker.tryAcquire());
  });

  it('after closing again, it takes the full threshold of new failures to re-open', () => {
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ clock, failureThreshold: 2, openMs: 1000 });
    failTimes(breaker, 2);
    clock.t += 1000;
    breaker.tryAcquire()!.success();
    failTimes(breaker, 1);
    assert.equal(breaker.state, 'closed');
    failTimes(breaker, 1);
    assert.equal(breaker.state, 'open');
  });

  it('ignores late results of calls that started before the circuit opened', () => {
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ clock, failureThreshold: 2, openMs: 1000 });
    const slowSuccess = breaker.tryAcquire()!;
    const slowFailure = breaker.tryAcquire()!;
    failTimes(breaker, 2);
    clock.t += 1000;
    const probe = breaker.tryAcquire()!;
    slowSuccess.success();
    slowFailure.failure();
    assert.equal(breaker.state, 'half-open', 'only the probe decides');
    probe.failure();
    assert.equal(breaker.state, 'open');
  });

  it('counts each permit once, however often it is settled', () => {
    const breaker = createCircuitBreaker({ clock: frozenClock(), failureThreshold: 2 });
    const permit = breaker.tryAcquire()!;
    permit.failure();
    permit.failure();
    permit.success();
    assert.equal(breaker.state, 'closed');
  });

  it('reports each transition once', () => {
    const clock = frozenClock();
    const seen: BreakerState[] = [];
    const breaker = createCircuitBreaker({ clock, failureThreshold: 1, openMs: 10, onStateChange: (s) => seen.push(s) });
    failTimes(breaker, 1);
    clock.t += 10;
    breaker.tryAcquire()!.success();
    assert.deepEqual(seen, ['open', 'half-open', 'closed']);
  });
});
