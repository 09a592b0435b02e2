import type { Middleware } from 'koa';

/**
 * The requests being handled right now, counted from the first middleware until the handler has
 * returned. The HTTP server's own bookkeeping counts connections, not handlers: a client that gives
 * up (a timeout, a load generator that stops) closes its connection while its handler keeps running,
 * holding a database connection or a hashing thread. A drain that only waits for connections would
 * then close the pools under that handler. Shutdown waits for both (platform/shutdown.ts).
 */
export interface InFlightRequests {
  /** Outermost middleware: counts the request until everything after it has settled. */
  readonly middleware: Middleware;
  /** Requests whose handler has not returned yet. */
  readonly count: number;
  /** Resolves true as soon as no request is being handled, false if `timeoutMs` passes first. */
  settled(timeoutMs: number): Promise<boolean>;
}

export function createInFlightRequests(): InFlightRequests {
  let count = 0;
  let waiting: (() => void)[] = [];
  const middleware: Middleware = async (_ctx, next) => {
    count += 1;
    try {
      await next();
    } finally {
      count -= 1;
      if (count === 0) {
        const wake = waiting;
        waiting = [];
        for (const fn of wake) fn();
      }
    }
  };
  return {
    middleware,
    get count() {
      return count;
    },
    settled(timeoutMs) {
      if (count === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting = waiting.filter((fn) => fn !== done);
          resolve(false);
        }, timeoutMs);
        timer.unref();
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        waiting.push(done);
      });
    },
  };
}
