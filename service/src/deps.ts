import { type BuildInfo, readBuildInfo } from './components/health/build-info.js';
import type { ReadinessCheck } from './components/health/readiness.js';
import type { Config } from './config/load.js';
import { createDatabase, type Database, pingDatabase } from './platform/db.js';
import { createLifecycle, type Lifecycle } from './platform/lifecycle.js';
import type { Logger } from './platform/logger.js';
import { createMetrics, type Metrics } from './platform/metrics.js';
import { loadOpenApiDocument } from './platform/openapi.js';

export interface Dependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly db: Database;
  readonly lifecycle: Lifecycle;
  readonly buildInfo: BuildInfo;
  readonly readinessChecks: Record<string, ReadinessCheck>;
  readonly openApiDocument: Record<string, unknown>;
  /** Closes pools and clients (after the HTTP server has drained). */
  close(): Promise<void>;
}

export interface DependencyOverrides {
  db?: Database;
  metrics?: Metrics;
  buildInfo?: BuildInfo;
}

/** How long /readyz waits for the database before calling it down. */
const READINESS_DB_TIMEOUT_MS = 1000;

/** The composition root: the only place that constructs pools, clients and registries. */
export function buildDependencies(config: Config, logger: Logger, overrides: DependencyOverrides = {}): Dependencies {
  const metrics = overrides.metrics ?? createMetrics();
  const db =
    overrides.db ??
    createDatabase({
      url: config.database.url?.reveal(),
      dataDir: config.database.dataDir,
      poolMax: config.database.poolMax,
      acquireTimeoutMs: config.database.acquireTimeoutMs,
      statementTimeoutMs: config.database.statementTimeoutMs,
    });
  const buildInfo = overrides.buildInfo ?? readBuildInfo({ gitSha: config.gitSha });
  metrics.buildInfo.set({ version: buildInfo.version, git_sha: buildInfo.git_sha }, 1);
  return {
    config,
    logger,
    metrics,
    db,
    lifecycle: createLifecycle(),
    buildInfo,
    readinessChecks: { database: () => pingDatabase(db, READINESS_DB_TIMEOUT_MS) },
    openApiDocument: loadOpenApiDocument(),
    async close() {
      await db.close();
    },
  };
}
