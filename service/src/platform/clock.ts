/**
 * Time, injected wherever it matters, so tests move it instead of sleeping: `now()` for reading it,
 * and timers that run on the same clock. The system clock uses Node's timers; a test clock
 * (test/helpers/clock.ts) fires due timers when the test advances it.
 */
export interface Clock {
  now(): Date;
}

/** A timer of a SchedulingClock (opaque; pass it back to clear it). */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending (a no-op on test clocks). */
  unref(): TimerHandle;
}

export interface SchedulingClock extends Clock {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Clears a timeout or an interval; undefined is ignored. */
  clear(handle: TimerHandle | undefined): void;
}

export const systemClock: SchedulingClock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
