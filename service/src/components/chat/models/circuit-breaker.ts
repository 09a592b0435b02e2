/**
 * A consecutive-failure circuit breaker for the upstream model.
 *
 * closed → (failureThreshold consecutive failures) → open → (openMs later) → half-open: exactly one
 * probe call is let through; its success closes the circuit, its failure re-opens it for another
 * openMs. Time comes from an injected clock and the half-open transition is computed when asked,
 * so there are no timers and tests freeze time.
 *
 * Hand-written rather than opossum/cockatiel, re-checked on Node 26 where opossum 10 installs: both
 * wrap a promise-returning function, but a model call is a stream whose outcome is only known when the
 * stream ends (or fails midway); opossum counts a failure percentage over a rolling window kept on real
 * timers, and neither takes an injectable clock, so the breaker tests (open after five failures, one
 * half-open probe, close on its success) would have to sleep through the open period. A call here
 * takes a permit and settles it when it knows; the whole state machine is the 60 lines below.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe is allowed (default 30 s). */
  openMs?: number;
  /** Milliseconds from any origin; default `performance.now()`. */
  clock?: { now(): number };
  /** Told of each transition (for a log line or a gauge). */
  onStateChange?: (state: BreakerState) => void;
}

/** One call's ticket. Settle it once; later settlements of the same permit are ignored. */
export interface BreakerPermit {
  success(): void;
  failure(): void;
  /** Neither success nor failure (the caller gave up): frees a half-open probe slot. */
  release(): void;
}

export interface CircuitBreaker {
  readonly state: BreakerState;
  /** A permit for one call, or undefined when the call must fail fast (open, or a probe is already out). */
  tryAcquire(): BreakerPermit | undefined;
}

export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const threshold = options.failureThreshold ?? 5;
  const openMs = options.openMs ?? 30_000;
  const clock = options.clock ?? performance;
  let state: BreakerState = 'closed';
  let consecutiveFailures = 0;
  let openedAt = 0;
  let probeOut = false;
  // Bumped each time the circuit opens: results of calls that started before are stale and ignored.
  let generation = 0;

  function moveTo(next: BreakerState): void {
    if (next === 'open') {
      openedAt = clock.now();
      generation++;
    }
    if (next !== 'half-open') probeOut = false;
    consecutiveFailures = 0;
    if (next !== state) {
      state = next;
      options.onStateChange?.(next);
    }
  }

  function currentState(): BreakerState {
    if (state === 'open' && clock.now() - openedAt >= openMs) moveTo('half-open');
    return state;
  }

  function permit(probe: boolean): BreakerPermit {
    const issuedIn = generation;
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'release') => {
      if (settled) return;
      settled = true;
      if (probe) {
        if (outcome === 'success') moveTo('closed');
        else if (outcome === 'failure') moveTo('open');
        else probeOut = false;
        return;
      }
      if (issuedIn !== generation || state !== 'closed') return;
      if (outcome === 'success') consecutiveFailures = 0;
      else if (outcome === 'failure' && ++consecutiveFailures >= threshold) moveTo('open');
    };
    return {
      success: () => settle('success'),
      failure: () => settle('failure'),
      release: () => settle('release'),
    };
  }

  return {
    get state() {
      return currentState();
    },
    tryAcquire() {
      switch (currentState()) {
        case 'open':
          return undefined;
        case 'half-open':
          if (probeOut) return undefined;
          probeOut = true;
          return permit(true);
        default:
          return permit(false);
      }
    },
  };
}
