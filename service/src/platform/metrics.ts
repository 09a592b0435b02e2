import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The service's metrics, all in one registry built by the composition root.
 * Latency buckets put SLO thresholds (0.1, 0.3, 1 s) on bucket edges so alerts can use them exactly.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequestsTotal: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly processFaultsTotal: Counter<'kind'>;
  readonly buildInfo: Gauge<'version' | 'git_sha'>;
  readonly authSuccessTotal: Counter<'flow'>;
  readonly authFailTotal: Counter<'flow' | 'reason'>;
  readonly mfaChallengesTotal: Counter<'method' | 'outcome'>;
  readonly rateLimitDroppedTotal: Counter<'limiter' | 'route'>;
  readonly rateLimitRedisFallback: Gauge;
  readonly mailSentTotal: Counter<'template' | 'outcome'>;
  readonly mailSuppressedTotal: Counter<'template' | 'reason'>;
  readonly mailOutboxPending: Gauge;
  readonly mailOutboxDead: Gauge;
  readonly mailOutboxOldestAge: Gauge;
  readonly abuseBlocksTotal: Counter;
  readonly externalModelLatency: Histogram<'provider' | 'outcome' | 'phase'>;
  readonly sseStreamsActive: Gauge;
  readonly modelTokensTotal: Counter<'provider' | 'model' | 'kind'>;
  readonly modelBudgetRejectionsTotal: Counter<'window'>;
  readonly modelFallbacksTotal: Counter<'reason'>;
  readonly jwtKeyringReloadsTotal: Counter<'trigger' | 'outcome'>;
  readonly jwtKeyringKeys: Gauge<'kid' | 'alg' | 'role'>;
  readonly jwtKeyringLastSuccess: Gauge;
}

export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // These three are gauges named like counters, which `promtool check metrics` rejects; the same
    // figures remain, by type, in nodejs_active_handles / _requests / _resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  return {
    registry,
    httpRequestsTotal: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_DURATION_BUCKETS,
      registers: [registry],
    }),
    processFaultsTotal: new Counter({
      name: 'process_faults_total',
      help: 'Uncaught exceptions and unhandled rejections caught by the process-level fault hook.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    buildInfo: new Gauge({
      name: 'build_info',
      help: 'Always 1; labels carry the running build.',
      labelNames: ['version', 'git_sha'],
      registers: [registry],
    }),
    authSuccessTotal: new Counter({
      name: 'auth_success_total',
      help: 'Successful authentication flows (signup, login, refresh, password_change).',
      labelNames: ['flow'],
      registers: [registry],
    }),
    authFailTotal: new Counter({
      name: 'auth_fail_total',
      help: 'Failed authentication flows by reason.',
      labelNames: ['flow', 'reason'],
      registers: [registry],
    }),
    mfaChallengesTotal: new Counter({
      name: 'mfa_challenges_total',
      help: 'Second-factor attempts by method (totp, recovery_code, webauthn) and outcome (success, failure, locked).',
      labelNames: ['method', 'outcome'],
      registers: [registry],
    }),
    rateLimitDroppedTotal: new Counter({
      name: 'rate_limit_dropped_total',
      help: 'Requests refused by a rate limiter, by limiter and route template.',
      labelNames: ['limiter', 'route'],
      registers: [registry],
    }),
    rateLimitRedisFallback: new Gauge({
      name: 'rate_limit_redis_fallback',
      help: '1 while Redis is configured but unreachable and limits run in process memory; 0 otherwise.',
      registers: [registry],
    }),
    mailSentTotal: new Counter({
      name: 'mail_sent_total',
      help: 'Mail send attempts from the outbox, by template and outcome (sent; retry: a failure that will be tried again; dead: dead-lettered after MAIL_MAX_ATTEMPTS).',
      labelNames: ['template', 'outcome'],
      registers: [registry],
    }),
    mailSuppressedTotal: new Counter({
      name: 'mail_suppressed_total',
      help: 'Mails not written to the outbox, by template and reason (rate_limited: the address reached RATE_LIMIT_MAIL_PER_HOUR; failed: the flow failed after its 202).',
      labelNames: ['template', 'reason'],
      registers: [registry],
    }),
    mailOutboxPending: new Gauge({
      name: 'mail_outbox_pending',
      help: 'Mails waiting in the outbox (pending or being sent), as of the sender’s last look.',
      registers: [registry],
    }),
    mailOutboxDead: new Gauge({
      name: 'mail_outbox_dead',
      help: 'Dead-lettered mails kept in the outbox (sent MAIL_MAX_ATTEMPTS times without success).',
      registers: [registry],
    }),
    mailOutboxOldestAge: new Gauge({
      name: 'mail_outbox_oldest_age_seconds',
      help: 'Age of the oldest mail still waiting in the outbox (0 when none waits).',
      registers: [registry],
    }),
    externalModelLatency: new Histogram({
      name: 'external_model_latency_seconds',
      help: 'Upstream model latency: phase="first_token" (time to the first fragment) and phase="total" (whole reply), by provider and outcome.',
      labelNames: ['provider', 'outcome', 'phase'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
    sseStreamsActive: new Gauge({
      name: 'sse_streams_active',
      help: 'Server-sent-event reply streams open right now.',
      registers: [registry],
    }),
    modelTokensTotal: new Counter({
      name: 'model_tokens_total',
      help: 'Tokens settled for model calls (the provider\'s usage, or an estimate when it reports none).',
      labelNames: ['provider', 'model', 'kind'] as const,
      registers: [registry],
    }),
    modelFallbacksTotal: new Counter({
      name: 'model_fallbacks_total',
      help: 'Model calls the fallback endpoint (MODEL_FALLBACK_*) took over because the primary failed before its first token, by why.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    modelBudgetRejectionsTotal: new Counter({
      name: 'model_budget_rejections_total',
      help: 'Model calls refused with budget_exhausted, by the window that refused them.',
      labelNames: ['window'] as const,
      registers: [registry],
    }),
    abuseBlocksTotal: new Counter({
      name: 'abuse_blocks_total',
      help: 'Client IPs blocked by the anomaly breaker after repeated rate-limit rejections.',
      registers: [registry],
    }),
    jwtKeyringReloadsTotal: new Counter({
      name: 'jwt_keyring_reloads_total',
      help: 'Re-reads of the JWT keyring from its source (trigger: interval, signal), by outcome (ok, error).',
      labelNames: ['trigger', 'outcome'],
      registers: [registry],
    }),
    jwtKeyringKeys: new Gauge({
      name: 'jwt_keyring_keys',
      help: 'Keys in the JWT keyring in force, 1 per key (role: signing or verify); `secops keys rotate promote --replica` reads it.',
      labelNames: ['kid', 'alg', 'role'],
      registers: [registry],
    }),
    jwtKeyringLastSuccess: new Gauge({
      name: 'jwt_keyring_last_load_timestamp_seconds',
      help: 'Unix time of the last successful load of the JWT keyring.',
      registers: [registry],
    }),
  };
}

export interface PoolStats {
  used: number;
  free: number;
  pending: number;
  max: number;
}

/**
 * Connection-pool gauges read from the real pool at scrape time (tarn's counters through knex), so
 * they are exact whenever Prometheus looks, with no timer of our own.
 */
export function registerDbPoolMetrics(registry: Registry, read: () => PoolStats): void {
  const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(read()));
      },
    });
  gauge('db_pool_in_use', 'Database connections checked out of the pool.', (s) => s.used);
  gauge('db_pool_idle', 'Open database connections waiting in the pool.', (s) => s.free);
  gauge('db_pool_waiting', 'Queries waiting for a connection.', (s) => s.pending);
  gauge('db_pool_max', 'Upper bound of the database pool.', (s) => s.max);
}
