import type { Logger } from './logger.js';

/**
 * Work a request starts but does not wait for: the answer goes out first, so its status, body and
 * timing cannot depend on what the work finds (whether an address has an account). Each job is
 * tracked until it settles; `drain()` waits for all of them (shutdown, and tests instead of sleeping).
 * A failing job is logged, never thrown at a client that already has its answer.
 */
export function createDeferredWork(options: { logger: Logger; onFailure?: (label: string) => void }) {
  const pending = new Set<Promise<void>>();
  return {
    run(label: string, job: () => Promise<void>): void {
      const p: Promise<void> = Promise.resolve()
        .then(job)
        .catch((err: unknown) => {
          options.onFailure?.(label);
          options.logger.error({ job: label, err: (err as Error).message }, 'deferred work failed');
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    /** Resolves once every job started so far — and every job those started — has settled. */
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    get size(): number {
      return pending.size;
    },
  };
}

export type DeferredWork = ReturnType<typeof createDeferredWork>;
