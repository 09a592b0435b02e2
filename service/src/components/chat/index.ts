/**
 * The chat component's entry point: the only module other components, the composition root and the
 * benches may import from components/chat (npm run lint enforces it). `createChatComponent` builds the
 * repo, the model provider (unless one is given), the stream slots and the routes.
 */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Config } from '../../config/load.js';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { SchedulingClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { createIdempotencyStore, type IdempotencyStore } from '../../platform/idempotency-store.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import { currentRequestContext } from '../../platform/request-context.js';
import type { AuditLog } from '../audit/index.js';
import { createBuiltinModel } from './models/builtin.js';
import { createOpenAiModel } from './models/openai.js';
import { createFallbackModel } from './models/fallback.js';
import type { ModelObserver, ModelProvider } from './models/provider.js';
import { type ChatExportItem, exportConversations } from './export.js';
import { createChatRepo } from './repo.js';
import { chatRoutes, usageRoutes } from './routes.js';
import { createModelBudget } from './model-budget.js';
import { createModelGate, type ModelGate } from './model-gate.js';
import { createModelMeter } from './model-meter.js';
import { preloadTokenizer } from './models/token-estimate.js';
import type { RedisHandle } from '../../platform/redis.js';
import { type ChatService, createChatService } from './service.js';
import { createStreamSlots, type StreamSlots } from './stream-slots.js';
import { createReplyBus } from './reply-bus.js';
import { createOrphanSweeper, createReplyLog, type OrphanSweeper, purgeFinishedReplyEvents } from './reply-log.js';
import { createRepliesRepo } from './replies-repo.js';
import { createReplyResume } from './reply-resume.js';

export { composeBuiltinReply } from './models/builtin.js';
export type { ChatTurn, ModelProvider } from './models/provider.js';
export type { ChatService } from './service.js';
export type { StreamSlots } from './stream-slots.js';
export type { ModelGate } from './model-gate.js';
export type { ChatExportItem } from './export.js';

export interface ChatComponent {
  readonly service: ChatService;
  /** The /v1/conversations routes, behind `authenticate`. */
  readonly routes: Router;
  /** GET /v1/usage, behind `authenticate`. */
  readonly usageRoutes: Router;
  /** Concurrent model calls, per user and in all, across replicas (Redis) or in this process. */
  readonly gate: ModelGate;
  /** Concurrent reply streams, per user and in all. */
  readonly slots: StreamSlots;
  /** Idempotency keys of the chat's POST routes (its `purgeExpired` runs every 10 minutes). */
  readonly idempotency: IdempotencyStore;
  /** A user's conversations and messages, piece by piece (the account export). */
  exportFor(userId: string): AsyncGenerator<ChatExportItem>;
  /** This replica's id as the owner of the replies it generates (their lease). */
  readonly instanceId: string;
  /** Fails replies orphaned by a dead replica; runs every ORPHAN_SWEEP_INTERVAL_SECONDS, callable at once. */
  readonly sweeper: Pick<OrphanSweeper, 'sweep'>;
  close(): Promise<void>;
}

export interface ChatComponentDeps {
  config: Config;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  /** The auth component's guard: a valid token of an active session, then the per-user limit. */
  authenticate: Middleware;
  /** Aborted when the process starts shutting down: open streams end with `shutting_down`. */
  shutdownSignal: AbortSignal;
  /** The shared Redis of the gate and the budgets; absent → per-process memory. */
  redis?: RedisHandle;
  /** The budget windows' clock (UTC day and month). */
  now?: () => Date;
  /** Replaces the configured model (tests). */
  model?: ModelProvider;
  /** The audit trail, for attempts on another user's conversation. */
  audit?: Pick<AuditLog, 'record'>;
  /** Idempotency keys' expiry and purge, the reply leases and the orphan sweep run on it. */
  clock: SchedulingClock;
}

/**
 * The model of the settings: the builtin one or an OpenAI-compatible endpoint, wrapped with the
 * MODEL_FALLBACK_* endpoint when one is configured (each with its own circuit breaker).
 */
function configuredModel(config: Config, metrics: Metrics, logger: Logger): ModelProvider {
  const primary =
    config.model.provider === 'openai'
      ? createOpenAiModel({
          baseUrl: config.model.baseUrl as string,
          apiKey: config.model.apiKey,
          model: config.model.name as string,
          timeoutMs: config.model.timeoutMs,
        })
      : createBuiltinModel({ delayMs: config.model.builtinDelayMs });
  const fallback = config.model.fallback;
  if (!fallback) return primary;
  return createFallbackModel({
    primary,
    fallback: createOpenAiModel({ ...fallback, model: fallback.name, name: 'fallback' }),
    onFallback: (reason, err, seconds) => {
      metrics.modelFallbacksTotal.inc({ reason });
      metrics.externalModelLatency.observe({ provider: primary.name, outcome: reason === 'timeout' ? 'timeout' : 'error', phase: 'total' }, seconds);
      // Safe to log: provider errors carry at most a status or system error code.
      logger.warn({ provider: primary.name, reason: err.message }, 'model call failed before its first token: the fallback takes it');
    },
  });
}

/**
 * How often expired idempotency keys, and finished replies' deltas past their retention, are deleted
 * (every replica does it; the deletes are idempotent).
 */
const PURGE_INTERVAL_MS = 10 * 60_000;

export function createChatComponent(deps: ChatComponentDeps): ChatComponent {
  const { config, db, logger, metrics } = deps;
  const model = deps.model ?? configuredModel(config, metrics, logger);
  const observer: ModelObserver = {
    firstToken: (provider, seconds) =>
      metrics.externalModelLatency.observe({ provider, outcome: 'ok', phase: 'first_token' }, seconds),
    finished: (provider, outcome, seconds) => metrics.externalModelLatency.observe({ provider, outcome, phase: 'total' }, seconds),
  };
  const slots = createStreamSlots({
    // Per process, behind the gate: the user's cap is the gate's (MAX_STREAMS_PER_USER is its alias).
    perUser: config.limits.maxModelCallsPerUser,
    total: config.limits.maxStreamsTotal,
    onChange: (active) => metrics.sseStreamsActive.set(active),
  });
  preloadTokenizer();
  const repo = createChatRepo(db.knex);
  const now = deps.now ?? (() => new Date());
  const gate = createModelGate({
    perUser: config.limits.maxModelCallsPerUser,
    total: config.limits.maxModelCallsTotal,
    leaseSeconds: config.limits.modelCallLeaseSeconds,
    redis: deps.redis,
    keyPrefix: config.redisKeyPrefix,
  });
  const budget = createModelBudget({ redis: deps.redis, keyPrefix: config.redisKeyPrefix, now, ledgerSince: repo.usageSince });
  const modelName = model.model ?? model.name;
  const meter = createModelMeter({
    gate,
    budget,
    repo,
    limits: { day: config.model.tokensPerDay, month: config.model.tokensPerMonth },
    maxOutputTokens: config.model.maxOutputTokens,
    provider: model.name,
    model: modelName,
    onTokens: (served, kind, tokens) => metrics.modelTokensTotal.inc({ provider: served.provider, model: served.model, kind }, tokens),
    onBudgetRejection: (window) => metrics.modelBudgetRejectionsTotal.inc({ window }),
  });
  const audit = deps.audit;
  const clock = deps.clock;
  const instanceId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const repliesRepo = createRepliesRepo(db.knex);
  const bus = createReplyBus({
    url: db.kind === 'postgres' ? () => db.url : undefined,
    notify: async (channel, payload) => {
      await db.knex.raw('select pg_notify(?, ?)', [channel, payload]);
    },
    logger,
  });
  const replies = createReplyLog({ repo: repliesRepo, bus, clock, instanceId, leaseMs: config.replies.leaseSeconds * 1000, logger });
  const sweeper = createOrphanSweeper({ repo: repliesRepo, bus, clock, intervalMs: config.replies.sweepIntervalSeconds * 1000, logger });
  const idempotency = createIdempotencyStore({
    knex: db.knex,
    clock: deps.clock,
    ttlSeconds: config.idempotencyTtlSeconds,
    // A key stays claimed while its first request runs: as long as the longest model call, and a
    // minute more; a replica that died mid-request frees its keys when the lease ends.
    leaseSeconds: Math.ceil(config.model.timeoutMs / 1000) + 60,
  });
  const eventsRetentionMs = config.replies.eventsRetentionSeconds * 1000;
  const purge = deps.clock
    .setInterval(() => {
      idempotency.purgeExpired().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'idempotency key purge failed'));
      purgeFinishedReplyEvents(repliesRepo, new Date(deps.clock.now().getTime() - eventsRetentionMs)).catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'reply events purge failed'),
      );
    }, PURGE_INTERVAL_MS)
    .unref();
  const service = createChatService({
    replies,
    repo,
    model,
    observer,
    slots,
    meter,
    now,
    logger,
    onForeignAccess: audit
      ? (userId, conversationId) => {
          const request = currentRequestContext();
          void audit.record({
            type: 'foreign_resource_refused',
            userId,
            ip: request?.ip ?? null,
            requestId: request?.requestId ?? null,
            clientRequestId: request?.clientRequestId ?? null,
            details: { resource: 'conversation', reason: 'another_users', id: conversationId },
          });
        }
      : undefined,
  });
  return {
    service,
    routes: chatRoutes({
      chat: service,
      authenticate: deps.authenticate,
      shutdownSignal: deps.shutdownSignal,
      heartbeatMs: config.sseHeartbeatMs,
      idempotency,
      logger,
      resume: createReplyResume({ repo: repliesRepo, bus }),
    }),
    usageRoutes: usageRoutes({ chat: service, authenticate: deps.authenticate }),
    gate,
    slots,
    exportFor: (userId) => exportConversations(db.knex, userId),
    idempotency,
    instanceId,
    sweeper,
    close: async () => {
      deps.clock.clear(purge);
      sweeper.close();
      await replies.close();
      await bus.close();
    },
  };
}
