import { setMaxListeners } from 'node:events';

/**
 * The process's readiness state. Readiness turns false the moment shutdown begins, before the
 * listener closes, so load balancers stop routing new work here first.
 */
export interface Lifecycle {
  readonly shuttingDown: boolean;
  beginShutdown(): void;
  /** Called with the abort reason when shutdown begins (open streams listen to this). */
  readonly signal: AbortSignal;
}

export function createLifecycle(): Lifecycle {
  const controller = new AbortController();
  // Every open SSE stream listens for shutdown: up to MAX_STREAMS_TOTAL listeners is by design.
  setMaxListeners(0, controller.signal);
  return {
    get shuttingDown() {
      return controller.signal.aborted;
    },
    beginShutdown() {
      if (!controller.signal.aborted) controller.abort(new Error('shutting down'));
    },
    signal: controller.signal,
  };
}
