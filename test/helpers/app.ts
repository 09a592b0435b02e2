import type { Server } from 'node:http';
import type Router from '@koa/router';
import { Writable } from 'node:stream';
import type Koa from 'koa';
import { buildApp } from '../../service/src/app.js';
import { type SchedulingClock, systemClock } from '../../service/src/platform/clock.js';
import { type Config, loadConfig } from '../../service/src/config/load.js';
import { buildDependencies, type Dependencies, type DependencyOverrides } from '../../service/src/deps.js';
import { createHttpServer, listen } from '../../service/src/platform/http/server.js';
import { createLogger } from '../../service/src/platform/logger.js';
import { createMetrics } from '../../service/src/platform/metrics.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface FakeClock extends SchedulingClock {
  advance(ms: number): void;
}

/**
 * Real time plus an offset the test moves forward: expiries and caches judged by `now()` pass without
 * sleeping. Its timers are the real ones (the app's write-behind keeps working); tests that need
 * timers under their control use test/helpers/clock.ts's manual clock.
 */
export function fakeClock(): FakeClock {
  let offset = 0;
  return {
    ...systemClock,
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

/**
 * Every request of a test file comes from 127.0.0.1: functional tests get limits they cannot reach;
 * the rate-limit tests set the ones they exercise.
 */
export const GENEROUS_LIMITS: Record<string, string> = {
  RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '1000000',
  RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
  RATE_LIMIT_REFRESH_PER_MINUTE: '1000000',
  RATE_LIMIT_SIGNUP_PER_HOUR: '1000000',
  RATE_LIMIT_USER_PER_MINUTE: '1000000',
};

/** A 64-byte base64url secret for tests (not a real secret: it exists only in test processes). */
export const TEST_JWT_SECRET = Buffer.alloc(64, 7).toString('base64url');

export interface TestApp {
  readonly config: Config;
  readonly deps: Dependencies;
  readonly app: Koa;
  readonly server: Server;
  readonly baseUrl: string;
  readonly database: TestDatabase;
  /** Every log line written so far, parsed. */
  readonly logLines: Record<string, unknown>[];
  /** Raw log output (for "this secret never appears" checks). */
  logText(): string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  database?: TestDatabase;
  /** Collect prom-client's default process metrics too (off by default: they cost a timer). */
  defaultMetrics?: boolean;
  /** A controllable clock (see `fakeClock`). */
  clock?: SchedulingClock;
  /** Routers only this test needs (e.g. one that throws), mounted after the service's own. */
  extraRouters?: Router[];
  /** Re-readable keyring source (reload tests); see DependencyOverrides.keyringSource. */
  keyringSource?: DependencyOverrides['keyringSource'];
}

/** Starts the real app on an ephemeral port against a throwaway database; logs are captured. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const { config } = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info', ...GENEROUS_LIMITS, ...options.env });
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const database = options.database ?? (await createTestDatabase());
  const deps = await buildDependencies(config, logger, { db: database.db, metrics: createMetrics({ defaultMetrics: options.defaultMetrics ?? false }), clock: options.clock, keyringSource: options.keyringSource });
  const app = buildApp(deps, { extraRouters: options.extraRouters });
  const server = createHttpServer(app);
  const address = await listen(server, 0, '127.0.0.1');
  const ownsDatabase = !options.database;
  return {
    config,
    deps,
    app,
    server,
    baseUrl: `http://127.0.0.1:${address.port}`,
    database,
    get logLines() {
      return chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => chunks.join(''),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deps.close(); // the service's own close (components, Redis); the database is the test's
      if (ownsDatabase) await database.drop();
    },
  };
}
