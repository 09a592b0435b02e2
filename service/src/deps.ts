import { type AccountComponent, createAccountComponent } from './components/account/index.js';
import { type AuditComponent, createAuditComponent } from './components/audit/index.js';
import { type AuthComponent, createAuthComponent, type Keyring } from './components/auth/index.js';
import { type ChatComponent, createChatComponent, type ModelProvider } from './components/chat/index.js';
import { createHealthComponent, type HealthComponent } from './components/health/index.js';
import { createMailComponent, type MailComponent } from './components/mail/index.js';
import type { Config } from './config/load.js';
import { type AbuseBreaker, createAbuseBreaker } from './platform/abuse-breaker.js';
import { type BuildInfo, readBuildInfo } from './platform/build-info.js';
import { type SchedulingClock, systemClock } from './platform/clock.js';
import { createDatabase, type Database, pingDatabase } from './platform/db.js';
import { createInFlightRequests, type InFlightRequests } from './platform/http/in-flight.js';
import { createLifecycle, type Lifecycle } from './platform/lifecycle.js';
import type { Logger } from './platform/logger.js';
import { createMetrics, type Metrics, registerDbPoolMetrics } from './platform/metrics.js';
import { loadOpenApiDocument } from './platform/openapi.js';
import { createLimiterFactory, type Limiter } from './platform/rate-limit.js';
import { createRedis, type RedisHandle } from './platform/redis.js';

/** What the service is made of: platform pieces, and each component as it built itself. */
export interface Dependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly db: Database;
  readonly lifecycle: Lifecycle;
  /** The requests being handled (app.ts counts them; shutdown waits for them before closing the pools). */
  readonly inFlight: InFlightRequests;
  readonly buildInfo: BuildInfo;
  readonly openApiDocument: Record<string, unknown>;
  readonly clock: SchedulingClock;
  /** Shared Redis, when REDIS_URL is set. */
  readonly redis: RedisHandle | undefined;
  readonly breaker: AbuseBreaker;
  /** Per-IP burst breaker on every route (wrapped as middleware in app.ts, which knows the route templates). */
  readonly globalLimiter: Limiter;
  readonly audit: AuditComponent;
  readonly auth: AuthComponent;
  readonly chat: ChatComponent;
  readonly health: HealthComponent;
  /** The mail outbox and its sender (started by main.ts once the service listens; tests start it or call deliverDue). */
  readonly mail: MailComponent;
  /** The user's own data (export) and the account's deletion. */
  readonly account: AccountComponent;
  /** Closes components, and the pools and clients it made (after the HTTP server has drained). */
  close(): Promise<void>;
}

export interface DependencyOverrides {
  db?: Database;
  model?: ModelProvider;
  clock?: SchedulingClock;
  metrics?: Metrics;
  buildInfo?: BuildInfo;
  /** See AuthComponentDeps.keyringSource: JWT_KEYS/JWT_SECRET re-read without a restart. */
  keyringSource?: () => Promise<Keyring>;
  /** Replaces the configured mail transport (tests of a failing mail server). */
  mailTransport?: MailTransportOverride;
  /** The outbox poll interval (ms). */
  mailPollMs?: number;
}

type MailTransportOverride = Parameters<typeof createMailComponent>[0]['transport'];

/** How much longer than statement_timeout the client waits for a query's answer. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;

/** How long /readyz waits for the database before calling it down. */
const READINESS_DB_TIMEOUT_MS = 1000;

/**
 * The composition root: the only place that constructs pools and clients. It builds the platform
 * pieces and hands them to each component, which builds its own parts; it wires no component internal.
 */
export async function buildDependencies(
  config: Config,
  logger: Logger,
  overrides: DependencyOverrides = {},
): Promise<Dependencies> {
  const metrics = overrides.metrics ?? createMetrics();
  const db =
    overrides.db ??
    createDatabase({
      url: config.database.url?.reveal(),
      dataDir: config.database.dataDir,
      poolMax: config.database.poolMax,
      acquireTimeoutMs: config.database.acquireTimeoutMs,
      statementTimeoutMs: config.database.statementTimeoutMs,
      // The server's statement_timeout fires first; this catches a server that no longer answers.
      queryTimeoutMs: config.database.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
      log: { warn: (m) => logger.warn({ component: 'knex' }, m), error: (m) => logger.error({ component: 'knex' }, m) },
    });
  registerDbPoolMetrics(metrics.registry, () => db.pool());
  const buildInfo = overrides.buildInfo ?? readBuildInfo({ gitSha: config.gitSha });
  metrics.buildInfo.set({ version: buildInfo.version, git_sha: buildInfo.git_sha }, 1);
  const clock = overrides.clock ?? systemClock;
  const lifecycle = createLifecycle();

  const redis = config.redisUrl
    ? createRedis(config.redisUrl.reveal(), logger, (up) => metrics.rateLimitRedisFallback.set(up ? 0 : 1), {
        ...(config.redisCa !== undefined ? { ca: config.redisCa } : {}),
      })
    : undefined;
  const limiterFactory = createLimiterFactory({ redis: redis?.client, keyPrefix: config.redisKeyPrefix, leaseMax: config.limits.leaseMax, clock });
  const breaker = createAbuseBreaker({
    factory: limiterFactory,
    threshold: config.limits.abuseBlockAfterRejections,
    blockSeconds: config.limits.abuseBlockSeconds,
    logger,
    onBlock: () => metrics.abuseBlocksTotal.inc(),
    clock,
  });
  const globalLimiter = limiterFactory({ name: 'global', points: config.limits.globalPerMinute, windowSeconds: 60, lease: true });

  const audit = createAuditComponent({ db, logger, clock, emailHashKey: config.audit.hashKey.reveal() });
  const mail = createMailComponent({ config, db, logger, metrics, clock, audit: audit.log, transport: overrides.mailTransport, pollMs: overrides.mailPollMs });
  const auth = await createAuthComponent({
    config,
    db,
    logger,
    metrics,
    clock,
    limiterFactory,
    breaker,
    audit: audit.log,
    mail: mail.outbox,
    redis: redis?.client,
    keyringSource: overrides.keyringSource,
  });
  const chat = createChatComponent({
    config,
    db,
    logger,
    metrics,
    authenticate: auth.authenticate,
    shutdownSignal: lifecycle.signal,
    clock,
    audit: audit.log,
    model: overrides.model,
    redis,
    now: () => clock.now(),
  });
  const account = createAccountComponent({ auth, chat, audit, limiterFactory, metrics });
  const health = createHealthComponent({
    lifecycle,
    buildInfo,
    logger,
    checks: { database: () => pingDatabase(db, READINESS_DB_TIMEOUT_MS) },
  });

  return {
    config,
    logger,
    metrics,
    db,
    lifecycle,
    inFlight: createInFlightRequests(),
    buildInfo,
    openApiDocument: loadOpenApiDocument(),
    clock,
    redis,
    breaker,
    globalLimiter,
    audit,
    mail,
    account,
    auth,
    chat,
    health,
    async close() {
      await auth.close();
      await chat.close();
      await mail.close();
      await audit.close();
      if (!overrides.db) await db.close(); // a database handed in is its owner's to close
      await redis?.close();
    },
  };
}
