import { type BuildInfo, readBuildInfo } from './components/health/build-info.js';
import type { ReadinessCheck } from './components/health/readiness.js';
import type { Config } from './config/load.js';
import { createDatabase, type Database, pingDatabase } from './platform/db.js';
import { createLifecycle, type Lifecycle } from './platform/lifecycle.js';
import type { Logger } from './platform/logger.js';
import { createMetrics, type Metrics, registerDbPoolMetrics } from './platform/metrics.js';
import { loadOpenApiDocument } from './platform/openapi.js';
import { createAuditLog, type AuditLog } from './components/audit/audit-log.js';
import { createAuditRepo } from './components/audit/audit-repo.js';
import { type AccessTokens, type Clock, createAccessTokens } from './components/auth/access-tokens.js';
import { authenticate } from './components/auth/authenticate.js';
import { type Keyring, keyringFromDocument, keyringFromSecret } from './components/auth/keyring.js';
import { createKeyringReloader, type ReloadOutcome, type ReloadTrigger } from './components/auth/keyring-reloader.js';
import { createPasswordChecker } from './components/auth/password-policy.js';
import { createPasswordHasher, type PasswordHasher } from './components/auth/passwords.js';
import { type AuthService, createAuthService } from './components/auth/service.js';
import { createSessionGuard } from './components/auth/session-guard.js';
import { createSessionsRepo } from './components/auth/sessions-repo.js';
import { createUsersRepo } from './components/auth/users-repo.js';
import compose from 'koa-compose';
import type { Context, Middleware } from 'koa';
import { createLoginLockout } from './components/auth/lockout.js';
import { createBuiltinModel } from './components/chat/models/builtin.js';
import { createOpenAiModel } from './components/chat/models/openai.js';
import type { ModelObserver, ModelProvider } from './components/chat/models/provider.js';
import { createChatRepo } from './components/chat/repo.js';
import { type ChatService, createChatService } from './components/chat/service.js';
import { createStreamSlots, type StreamSlots } from './components/chat/stream-slots.js';
import { type AbuseBreaker, createAbuseBreaker } from './platform/abuse-breaker.js';
import { limitRequests } from './platform/http/rate-limit.js';
import { createLimiterFactory, type Limiter } from './platform/rate-limit.js';
import { createRedis, type RedisHandle } from './platform/redis.js';

export interface Dependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly db: Database;
  readonly lifecycle: Lifecycle;
  readonly buildInfo: BuildInfo;
  readonly readinessChecks: Record<string, ReadinessCheck>;
  readonly openApiDocument: Record<string, unknown>;
  readonly clock: Clock;
  /** The JWT keyring in force (swapped on reload; callers always ask for the current one). */
  readonly keyring: () => Keyring;
  /** Re-reads the keyring now (SIGHUP); a no-op without a keyring source. */
  reloadKeyring(trigger?: ReloadTrigger): Promise<ReloadOutcome | undefined>;
  readonly hasher: PasswordHasher;
  readonly accessTokens: AccessTokens;
  readonly audit: AuditLog;
  readonly auth: AuthService;
  /** Middleware guarding authenticated routes (valid token, active session, per-user limit). */
  readonly authenticate: Middleware;
  readonly chat: ChatService;
  readonly chatSlots: StreamSlots;
  /** Shared Redis, when REDIS_URL is set. */
  readonly redis: RedisHandle | undefined;
  readonly breaker: AbuseBreaker;
  /** Per-IP burst breaker on every route (wired in app.ts, which knows the route templates). */
  readonly globalLimiter: Limiter;
  /** Per-IP limiters as route middleware: /v1/auth/*, login, refresh, signup. */
  readonly limits: Record<'auth' | 'login' | 'refresh' | 'signup', Middleware>;
  /** Closes pools and clients (after the HTTP server has drained). */
  close(): Promise<void>;
}

export interface DependencyOverrides {
  db?: Database;
  model?: ModelProvider;
  clock?: Clock;
  metrics?: Metrics;
  buildInfo?: BuildInfo;
  /**
   * Reads the keyring's source afresh (main.ts: JWT_KEYS/JWT_SECRET through *_REF, *_FILE); given, the
   * keyring is re-read every JWT_KEYS_RELOAD_INTERVAL_SECONDS and on `reloadKeyring()` (SIGHUP).
   */
  keyringSource?: () => Promise<Keyring>;
}

/** How much longer than statement_timeout the client waits for a query's answer. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;

/** How long /readyz waits for the database before calling it down. */
const READINESS_DB_TIMEOUT_MS = 1000;

const systemClock: Clock = { now: () => new Date() };

/** The composition root: the only place that constructs pools, clients, keyrings and registries. */
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

  const initialKeyring = config.jwt.keys
    ? await keyringFromDocument(config.jwt.keys.reveal())
    : await keyringFromSecret(config.jwt.secret?.reveal() as Uint8Array);
  const reloader = overrides.keyringSource
    ? createKeyringReloader({
        initial: initialKeyring,
        load: overrides.keyringSource,
        intervalMs: config.jwt.reloadIntervalMs,
        logger,
        metrics,
      })
    : undefined;
  const keyring = reloader ? reloader.current : () => initialKeyring;
  const hasher = createPasswordHasher({
    policy: config.argon2,
    maxConcurrent: config.argon2.maxConcurrent,
    maxQueue: config.argon2.maxQueue,
    queueTimeoutMs: 10_000,
  });
  const accessTokens = createAccessTokens({
    keyring,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.jwt.accessTokenTtlSeconds,
    clock,
  });
  const sessions = createSessionsRepo(db.knex);
  const guard = createSessionGuard({ sessions, clock });

  const redis = config.redisUrl
    ? createRedis(config.redisUrl.reveal(), logger, (up) => metrics.rateLimitRedisFallback.set(up ? 0 : 1))
    : undefined;
  const limiterFactory = createLimiterFactory({ redis: redis?.client, keyPrefix: config.redisKeyPrefix });
  const breaker = createAbuseBreaker({
    factory: limiterFactory,
    threshold: config.limits.abuseBlockAfterRejections,
    blockSeconds: config.limits.abuseBlockSeconds,
    logger,
    onBlock: () => metrics.abuseBlocksTotal.inc(),
  });
  const byIp = (ctx: Context) => ctx.state.clientIp as string;
  const perIp = (name: string, points: number, windowSeconds: number) =>
    limitRequests({ limiter: limiterFactory({ name, points, windowSeconds }), key: byIp, metrics, breaker });
  const globalLimiter = limiterFactory({ name: 'global', points: config.limits.globalPerMinute, windowSeconds: 60 });
  const limits = {
    auth: perIp('auth', config.limits.authPerMinute, 60),
    login: perIp('login', config.limits.loginPerMinute, 60),
    refresh: perIp('refresh', config.limits.refreshPerMinute, 60),
    signup: perIp('signup', config.limits.signupPerHour, 3600),
  };
  const perUser = limitRequests({
    limiter: limiterFactory({ name: 'user', points: config.limits.userPerMinute, windowSeconds: 60 }),
    key: (ctx) => (ctx.state.auth as { userId: string } | undefined)?.userId,
    metrics,
    breaker,
  });
  const lockout = createLoginLockout({
    factory: limiterFactory,
    maxFailures: config.limits.loginMaxFailures,
    accountMaxFailuresPerHour: config.limits.loginAccountMaxFailuresPerHour,
  });
  const audit = createAuditLog({ repo: createAuditRepo(db.knex), logger, clock });
  const auth = createAuthService({
    knex: db.knex,
    users: createUsersRepo(db.knex),
    sessions,
    hasher,
    checkPassword: createPasswordChecker({ minLength: config.passwordMinLength, maxLength: 128 }),
    accessTokens,
    keyring,
    guard,
    lockout,
    audit,
    metrics,
    logger,
    clock,
    refreshTokenTtlSeconds: config.jwt.refreshTokenTtlSeconds,
    refreshReuseGraceSeconds: config.jwt.refreshReuseGraceSeconds,
  });

  const model =
    overrides.model ??
    (config.model.provider === 'openai'
      ? createOpenAiModel({
          baseUrl: config.model.baseUrl as string,
          apiKey: config.model.apiKey,
          model: config.model.name as string,
          timeoutMs: config.model.timeoutMs,
        })
      : createBuiltinModel({ delayMs: config.model.builtinDelayMs }));
  const observer: ModelObserver = {
    firstToken: (provider, seconds) =>
      metrics.externalModelLatency.observe({ provider, outcome: 'ok', phase: 'first_token' }, seconds),
    finished: (provider, outcome, seconds) => metrics.externalModelLatency.observe({ provider, outcome, phase: 'total' }, seconds),
  };
  const chatSlots = createStreamSlots({
    perUser: config.limits.maxStreamsPerUser,
    total: config.limits.maxStreamsTotal,
    onChange: (active) => metrics.sseStreamsActive.set(active),
  });
  const chat = createChatService({ repo: createChatRepo(db.knex), model, observer, slots: chatSlots, logger });

  return {
    config,
    logger,
    metrics,
    db,
    lifecycle: createLifecycle(),
    buildInfo,
    readinessChecks: { database: () => pingDatabase(db, READINESS_DB_TIMEOUT_MS) },
    openApiDocument: loadOpenApiDocument(),
    clock,
    keyring,
    reloadKeyring: async (trigger) => reloader?.reload(trigger),
    hasher,
    accessTokens,
    audit,
    auth,
    authenticate: compose([authenticate(accessTokens, guard), perUser]),
    chat,
    chatSlots,
    redis,
    breaker,
    globalLimiter,
    limits,
    async close() {
      reloader?.stop();
      await audit.close();
      await db.close();
      await redis?.close();
    },
  };
}
