import type { SchedulingClock, TimerHandle } from '../../service/src/platform/clock.js';

/**
 * A clock that moves only when the test says so: `now()` starts at `start` and `tick(ms)` advances it,
 * firing every timer that falls due on the way, in time order, and letting the promises each one
 * starts settle before the next fires. Nothing of it is real time: no test waits on it.
 */
export interface ManualClock extends SchedulingClock {
  tick(ms: number): Promise<void>;
  /** Timers still scheduled. */
  pending(): number;
}

interface Scheduled {
  id: number;
  due: number;
  every: number | undefined;
  fn: () => void;
}

/** Lets callbacks' promise chains run (a few macrotask turns: I/O-free async work settles in them). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function manualClock(start = Date.parse('2026-12-06T00:00:00Z')): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, Scheduled>();
  const handle = (id: number): TimerHandle & { id: number } => {
    const h = { id, unref: () => h };
    return h;
  };
  const schedule = (fn: () => void, ms: number, every: number | undefined) => {
    const id = nextId++;
    timers.set(id, { id, due: now + Math.max(0, ms), every, fn });
    return handle(id);
  };
  return {
    now: () => new Date(now),
    setTimeout: (fn, ms) => schedule(fn, ms, undefined),
    setInterval: (fn, ms) => schedule(fn, ms, Math.max(1, ms)),
    clear: (h) => {
      if (h) timers.delete((h as unknown as { id: number }).id);
    },
    pending: () => timers.size,
    async tick(ms) {
      const until = now + ms;
      await settle();
      for (;;) {
        const next = [...timers.values()].filter((t) => t.due <= until).sort((a, b) => a.due - b.due || a.id - b.id)[0];
        if (!next) break;
        now = next.due;
        if (next.every === undefined) timers.delete(next.id);
        else next.due += next.every;
        next.fn();
        await settle();
      }
      now = until;
    },
  };
}
