import Router from '@koa/router';
import type { Lifecycle } from '../../platform/lifecycle.js';
import type { BuildInfo } from '../../platform/build-info.js';
import type { Logger } from '../../platform/logger.js';
import { checkReadiness, type ReadinessCheck } from './readiness.js';

export interface HealthRoutesDeps {
  lifecycle: Lifecycle;
  readinessChecks: Record<string, ReadinessCheck>;
  buildInfo: BuildInfo;
  logger: Logger;
}

/**
 * Liveness (no dependency checks), readiness (dependencies + shutdown state) and version. These are
 * never rate-limited or blocked (app.ts), so they are public to anyone: /readyz answers only each
 * check's name and state; why a check failed (addresses, ports, driver messages) goes to the log.
 */
export function healthRoutes(deps: HealthRoutesDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const report = await checkReadiness(deps.lifecycle, deps.readinessChecks);
    for (const failure of report.failures) deps.logger.warn(failure, 'readiness check failed');
    ctx.status = report.ready ? 200 : 503;
    ctx.body = { status: report.ready ? 'ready' : 'not_ready', checks: report.checks };
  });
  router.get('/version', (ctx) => {
    ctx.body = deps.buildInfo;
  });
  return router;
}
