/**
 * A semaphore with a bounded FIFO queue: at most `max` functions run at once, at most `maxQueue`
 * wait, and a caller beyond that — or one that waited longer than `queueTimeoutMs` — is refused at
 * once with the error `onReject` builds (typically a 503 with Retry-After). Shedding load this way
 * keeps latency bounded instead of letting a backlog grow without limit.
 *
 * Written here rather than taken from npm: p-limit and async-sema queue without bound and never
 * refuse, p-queue has no queue bound (its `timeout` limits the running task, which cannot stop a
 * native computation anyway) and its current major needs Node 22.
 */

export type ConcurrencyRejection = 'queue_full' | 'queue_timeout';

export interface ConcurrencyLimitOptions {
  /** Functions allowed to run at the same time (≥ 1). */
  max: number;
  /** Callers allowed to wait for a slot (≥ 0); one more is refused. */
  maxQueue: number;
  /** A caller still waiting after this long is refused; undefined or 0: no limit. */
  queueTimeoutMs?: number;
  /** Builds the error thrown to a refused caller. */
  onReject: (reason: ConcurrencyRejection) => Error;
}

export interface ConcurrencyLimitStats {
  running: number;
  queued: number;
  /** Callers refused since creation (queue full or waited too long). */
  rejected: number;
}

export interface ConcurrencyLimit {
  /** Runs `fn` when a slot is free; the slot is released however `fn` ends. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  stats(): ConcurrencyLimitStats;
}

interface Waiter {
  resolve: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export function createConcurrencyLimit(options: ConcurrencyLimitOptions): ConcurrencyLimit {
  const { max, maxQueue, queueTimeoutMs, onReject } = options;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be an integer ≥ 1, got ${max}`);
  if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be an integer ≥ 0, got ${maxQueue}`);
  if (queueTimeoutMs !== undefined && !(queueTimeoutMs >= 0))
    throw new RangeError(`queueTimeoutMs must be ≥ 0, got ${queueTimeoutMs}`);

  let running = 0;
  let rejected = 0;
  // A Set iterates in insertion order (FIFO) and deletes a timed-out waiter in O(1).
  const waiters = new Set<Waiter>();

  function acquire(): Promise<void> {
    if (running < max) {
      running++;
      return Promise.resolve();
    }
    if (waiters.size >= maxQueue) {
      rejected++;
      return Promise.reject(onReject('queue_full'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, timer: undefined };
      if (queueTimeoutMs) {
        waiter.timer = setTimeout(() => {
          waiters.delete(waiter);
          rejected++;
          reject(onReject('queue_timeout'));
        }, queueTimeoutMs);
      }
      waiters.add(waiter);
    });
  }

  function release(): void {
    const next = waiters.values().next();
    if (next.done) {
      running--;
      return;
    }
    // Hand the slot straight to the oldest waiter: `running` stays the same.
    const waiter = next.value;
    waiters.delete(waiter);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve();
  }

  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      await acquire();
      try {
        return await fn();
      } finally {
        release();
      }
    },
    stats: () => ({ running, queued: waiters.size, rejected }),
  };
}
