import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** Route label for requests no route matched, so raw paths never become metric labels. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * One structured line per request (request_id, user_id, ip come from the logger's mixin; method, route
 * template, status, duration_ms here) and the HTTP metrics. Runs outside the problem handler so it
 * sees the final status of errors too.
 */
export function accessLog(logger: Logger, metrics: Metrics): Middleware {
  // The line's fields are fixed above and hold no secret (a route template, never the URL; no header
  // but the user agent), so the redaction pass every other line gets would only cost time here.
  const log = logger.child({}, { redact: { paths: [], censor: '[redacted]' } });
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    let failed = false;
    try {
      await next();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? UNMATCHED_ROUTE;
      const status = failed ? 500 : ctx.status;
      const labels = { method: ctx.method, route, status: String(status) };
      metrics.httpRequestsTotal.inc(labels);
      metrics.httpRequestDuration.observe(labels, seconds);
      const line = {
        method: ctx.method,
        route,
        status,
        duration_ms: Math.round(seconds * 1e4) / 10,
        user_agent: ctx.get('user-agent') || undefined,
      };
      // 503 is a deliberate answer (readiness while draining, a full hash queue), not a fault.
      if (status >= 500 && status !== 503) log.error(line, 'request');
      else if (status === 503) log.warn(line, 'request');
      else log.info(line, 'request');
    }
  };
}
