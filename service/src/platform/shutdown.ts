import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InFlightRequests } from './http/in-flight.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';
import { drainServer } from './http/server.js';

export interface ShutdownOptions {
  lifecycle: Lifecycle;
  logger: Logger;
  /** The API listener: drained. */
  server: Server;
  /** Its requests' handlers, which may outlive their connections: waited for within the same grace. */
  inFlight: Pick<InFlightRequests, 'count' | 'settled'>;
  /** Other listeners (metrics): closed after the API drained. */
  auxiliaryServers: Server[];
  /** Readiness 503 → listener close (lets load balancers deregister the pod first). */
  delayMs: number;
  /** Longest time in-flight requests get to finish. */
  graceMs: number;
  /** Closes pools and clients. */
  closeDependencies: () => Promise<void>;
  exit: (code: number) => void;
}

/**
 * The orderly stop, shared by SIGTERM/SIGINT (exit 0) and the fault hook (non-zero):
 * readiness 503 at once → wait `delayMs` → stop accepting and drain in-flight requests (their
 * connections, and handlers still running after their client left) for up to `graceMs` → close the
 * other listeners → close pools → flush logs → exit. Idempotent: a second signal while draining does
 * not restart it, and a hard timer guarantees the process ends.
 */
export function createShutdown(options: ShutdownOptions): (exitCode: number, reason: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let finalCode = 0;
  return (exitCode, reason) => {
    finalCode = Math.max(finalCode, exitCode);
    if (running) return running;
    const { lifecycle, logger } = options;
    running = (async () => {
      lifecycle.beginShutdown();
      logger.info({ reason, delay_ms: options.delayMs, grace_ms: options.graceMs }, 'shutdown started: readiness is now 503');
      const hardStop = setTimeout(() => {
        logger.error('shutdown did not finish in time; exiting now');
        logger.flush();
        options.exit(finalCode || 1);
      }, options.delayMs + options.graceMs + 10_000);
      hardStop.unref();
      try {
        if (options.delayMs > 0) await sleep(options.delayMs);
        const started = performance.now();
        const connectionsClosed = await drainServer(options.server, options.graceMs);
        // A handler whose client has gone holds no connection but still runs (a hash, a transaction):
        // the pools close only after it returns, or when the grace period is over.
        const handlersDone = await options.inFlight.settled(Math.max(0, options.graceMs - (performance.now() - started)));
        const drained = connectionsClosed && handlersDone;
        const fields = { drained, drain_ms: Math.round(performance.now() - started), ...(handlersDone ? {} : { abandoned_requests: options.inFlight.count }) };
        if (drained) logger.info(fields, 'all in-flight requests finished');
        else if (!connectionsClosed) logger.warn(fields, 'grace period over: remaining connections were cut');
        else logger.warn(fields, 'grace period over: requests whose clients had left were still running');
        await Promise.all(options.auxiliaryServers.map((s) => drainServer(s, 1000)));
        await options.closeDependencies();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
        finalCode = finalCode || 1;
      }
      logger.info({ exit_code: finalCode }, 'shutdown complete');
      logger.flush();
      options.exit(finalCode);
    })();
    return running;
  };
}
