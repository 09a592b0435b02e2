import Router from '@koa/router';
import type { Lifecycle } from '../../platform/lifecycle.js';
import type { BuildInfo } from '../../platform/build-info.js';
import { checkReadiness, type ReadinessCheck } from './readiness.js';

export interface HealthRoutesDeps {
  lifecycle: Lifecycle;
  readinessChecks: Record<string, ReadinessCheck>;
  buildInfo: BuildInfo;
}

/** Liveness (no dependency checks), readiness (dependencies + shutdown state) and version. */
export function healthRoutes(deps: HealthRoutesDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const report = await checkReadiness(deps.lifecycle, deps.readinessChecks);
    ctx.status = report.ready ? 200 : 503;
    ctx.body = { status: report.ready ? 'ready' : 'not_ready', checks: report.checks };
  });
  router.get('/version', (ctx) => {
    ctx.body = deps.buildInfo;
  });
  return router;
}
