/**
 * The health component's entry point: liveness, readiness and version. The composition root gives it
 * the readiness checks of the dependencies it built; npm run lint keeps other modules to this file.
 */
import type Router from '@koa/router';
import type { BuildInfo } from '../../platform/build-info.js';
import type { Lifecycle } from '../../platform/lifecycle.js';
import type { Logger } from '../../platform/logger.js';
import type { ReadinessCheck } from './readiness.js';
import { healthRoutes } from './routes.js';

export type { ReadinessCheck } from './readiness.js';

export interface HealthComponent {
  readonly routes: Router;
  readonly checks: Record<string, ReadinessCheck>;
}

export function createHealthComponent(deps: {
  lifecycle: Lifecycle;
  buildInfo: BuildInfo;
  checks: Record<string, ReadinessCheck>;
  /** Where a failing check's error text goes (never into the /readyz answer). */
  logger: Logger;
}): HealthComponent {
  return {
    routes: healthRoutes({ lifecycle: deps.lifecycle, readinessChecks: deps.checks, buildInfo: deps.buildInfo, logger: deps.logger }),
    checks: deps.checks,
  };
}
