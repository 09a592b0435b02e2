import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { currentRequestContext } from './request-context.js';

export interface FaultHookOptions {
  logger: Logger;
  metrics: Pick<Metrics, 'processFaultsTotal'>;
  /** The orderly stop, with a non-zero exit code. */
  shutdown: (exitCode: number, reason: string) => unknown;
  exitCode: number;
}

type ProcessEvents = Pick<NodeJS.Process, 'on'>;

/**
 * Process-level fault hook: an uncaught exception or unhandled rejection is logged as fatal (with
 * its stack, and the request id when it happened while serving one), counted in
 * `process_faults_total{kind}`, and triggers the same orderly shutdown as SIGTERM — with a
 * non-zero exit code, so the orchestrator restarts a process whose state can no longer be trusted.
 */
export function installFaultHook(proc: ProcessEvents, options: FaultHookOptions): void {
  const onFault = (kind: 'uncaught_exception' | 'unhandled_rejection') => (err: unknown) => {
    options.metrics.processFaultsTotal.inc({ kind });
    options.logger.fatal({ err, kind, request_id: currentRequestContext()?.requestId }, 'process fault: shutting down');
    void options.shutdown(options.exitCode, kind);
  };
  proc.on('uncaughtException', onFault('uncaught_exception'));
  proc.on('unhandledRejection', onFault('unhandled_rejection'));
}
