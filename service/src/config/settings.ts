import { z } from 'zod';

/**
 * Every setting Rampart reads from the environment — the service and `secops` alike — declared once:
 * its name, the sources it may come from (the value itself; `NAME_FILE`, a file such as a Kubernetes
 * secret volume; `NAME_REF`, a secret-store reference), its parser and default (zod), whether it is a
 * secret, whether production requires it, and one line of documentation. The environment schema,
 * `loadConfig`, the keyring reload, every CLI command and docs/configuration.md (`npm run docs:config`)
 * all derive from this table; test/service/config/settings.test.ts fails when the docs differ.
 * Adding a setting is one entry here (its doc included) and its use where it is needed.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** OWASP Password Storage Cheat Sheet minimum for Argon2id; nothing may be configured below it. */
export const ARGON2_OWASP_MINIMUM = Object.freeze({ memoryKiB: 19456, timeCost: 2, parallelism: 1 });

/** Where a setting may come from besides its own variable. */
export type SettingSource = 'file' | 'ref';

export interface SettingSpec {
  readonly group: string;
  readonly schema: z.ZodType;
  readonly doc: string;
  /** `file`: NAME_FILE holds it; `ref`: NAME_REF names it in a secret store. At most one source may be set. */
  readonly sources?: readonly SettingSource[];
  /** Never echoed (configuration errors name the variable, never the value). */
  readonly secret?: boolean;
  /** Production refuses to start without it. */
  readonly requiredInProduction?: boolean;
}

export const SETTINGS = {
  // ---- Process -----------------------------------------------------------------------------------
  NODE_ENV: { group: 'Process', schema: z.enum(['development', 'test', 'production']).default('development'), doc: '`production` refuses to start when a required secret or setting is missing or weak.' },
  LOG_LEVEL: { group: 'Process', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), doc: 'pino level.' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { group: 'Process', schema: z.url().optional(), doc: 'OTLP/HTTP traces endpoint; unset → tracing off.' },
  SHUTDOWN_GRACE_MS: { group: 'Process', schema: int(0, 600_000).default(25_000), doc: 'Drain time after SIGTERM before remaining connections are cut and pools closed under handlers still running (ms).' },
  SHUTDOWN_DELAY_MS: { group: 'Process', schema: int(0, 600_000).optional(), doc: 'Time between readiness turning 503 and the listener closing, so load balancers stop routing first (ms). Default 5000 in production, 0 elsewhere.' },
  UV_THREADPOOL_SIZE: { group: 'Process', schema: int(1, 1024).optional(), doc: 'libuv thread-pool size; set by bin/boot.js (CPU count + 4) unless the operator set it. Reported at start.' },
  GIT_SHA: { group: 'Process', schema: z.string().regex(/^[0-9a-f]{7,40}$/).optional(), doc: 'Git SHA reported by /version; else the build info file, else `git rev-parse`, else `unknown`.' },
  // ---- HTTP --------------------------------------------------------------------------------------
  PORT: { group: 'HTTP', schema: int(0, 65535).default(3000), doc: 'API listener port.' },
  HOST: { group: 'HTTP', schema: z.string().min(1).default('0.0.0.0'), doc: 'API listener address.' },
  METRICS_PORT: { group: 'HTTP', schema: int(0, 65535).default(9464), doc: 'Metrics listener port (never exposed through the ingress). 0 picks a free port.' },
  METRICS_HOST: { group: 'HTTP', schema: z.string().min(1).default('127.0.0.1'), doc: 'Metrics listener address: loopback by default, so /metrics (request counts, auth outcomes, pool state) is not open to every network the host is on; in Kubernetes the pod\'s own address (status.podIP), which Prometheus scrapes and the NetworkPolicy guards.' },
  HTTP_HEADERS_TIMEOUT_MS: { group: 'HTTP', schema: int(100, 600_000).default(10_000), doc: 'Time a client has to send the request headers before the connection is cut with 408 (ms; slowloris defence).' },
  HTTP_REQUEST_TIMEOUT_MS: { group: 'HTTP', schema: int(100, 3_600_000).default(30_000), doc: 'Time a client has to send the whole request, body included, before 408 (ms).' },
  HTTP_KEEP_ALIVE_TIMEOUT_MS: { group: 'HTTP', schema: int(100, 600_000).default(5_000), doc: 'How long an idle keep-alive connection stays open (ms); keep it above the load balancer\'s idle timeout only if one sits in front.' },
  MAX_REQUEST_SIZE_BYTES: { group: 'HTTP', schema: int(1024, 16_777_216).default(262_144), doc: 'Request body limit (bytes); large enough for a 32,000-character message in any script.' },
  TRUSTED_PROXIES: { group: 'HTTP', schema: z.string().default(''), doc: 'Comma-separated CIDRs whose X-Forwarded-For/-Proto are honoured; empty: headers ignored.' },
  // ---- TLS ---------------------------------------------------------------------------------------
  TLS_CERT_FILE: { group: 'TLS', schema: z.string().min(1).optional(), doc: 'PEM certificate chain the API listener (and the metrics listener) serve HTTPS with, for TLS from the ingress to the pod; set together with TLS_KEY_FILE. Unset: both listeners speak plain HTTP. Re-read every TLS_RELOAD_INTERVAL_SECONDS and on SIGHUP; a changed pair is served to new connections without a restart.' },
  TLS_KEY_FILE: { group: 'TLS', schema: z.string().min(1).optional(), doc: 'PEM private key of TLS_CERT_FILE (a file, e.g. a Kubernetes TLS secret volume; never the key itself).' },
  TLS_RELOAD_INTERVAL_SECONDS: { group: 'TLS', schema: int(0, 86_400).default(30), doc: 'How often TLS_CERT_FILE and TLS_KEY_FILE are re-read (s); when they changed and form a valid pair, new connections get the new certificate (a half-written pair is kept out until it is whole). SIGHUP re-reads at once. 0: on SIGHUP only.' },
  ALLOW_PLAINTEXT: { group: 'TLS', schema: z.string().regex(/^\s*((database|redis|model|mail|secrets|pushgateway)\s*(,\s*|$))*$/, 'a comma-separated list of database, redis, model, mail, secrets, pushgateway').default(''), doc: 'Hops production may use without TLS, comma-separated: `database` (a DATABASE_URL without `sslmode=verify-full`), `redis` (a REDIS_URL that is not `rediss://`), `model` (a MODEL_BASE_URL or MODEL_FALLBACK_BASE_URL that is not `https://`), `mail` (a MAIL_URL with `?tls=off`), `secrets` (a VAULT_ADDR or AWS_ENDPOINT_URL that is not `https://`; unlisted, production neither starts nor resolves a vault:// or aws-* reference over it), `pushgateway` (a `secops … --pushgateway` URL that is not `https://`). Production refuses each of these unless its hop is listed; a listed hop is logged as a warning at every start. Empty by default. Outside production nothing is refused.' },
  // ---- Tokens and keys ---------------------------------------------------------------------------
  JWT_SECRET: { group: 'Tokens and keys', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'HS256 signing secret, base64url, ≥ 64 bytes decoded. Development generates an ephemeral one.' },
  JWT_KEYS: { group: 'Tokens and keys', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'JWT keyring as JSON: {"signing": "<kid>", "keys": [JWK, …]} — `oct` keys (HS256, ≥ 64 bytes) or Ed25519 `OKP` keys (EdDSA; private for the signing key, public is enough for verify-only ones). Takes precedence over JWT_SECRET. Keys other than the signing one verify only (rotation).' },
  JWT_KEYS_RELOAD_INTERVAL_SECONDS: { group: 'Tokens and keys', schema: int(0, 86_400).default(60), doc: 'How often the keyring (JWT_KEYS/JWT_SECRET through *_FILE or *_REF) is re-read without a restart (s); SIGHUP re-reads at once. 0: on SIGHUP only. `secops keys rotate` waits this long between phases.' },
  JWT_ISSUER: { group: 'Tokens and keys', schema: z.string().min(1).default('rampart'), doc: '`iss` claim of access tokens.' },
  JWT_AUDIENCE: { group: 'Tokens and keys', schema: z.string().min(1).default('rampart-api'), doc: '`aud` claim of access tokens.' },
  ACCESS_TOKEN_TTL_SECONDS: { group: 'Tokens and keys', schema: int(30, 86_400).default(900), doc: 'Access-token lifetime (s).' },
  REFRESH_TOKEN_TTL_SECONDS: { group: 'Tokens and keys', schema: int(60, 31_536_000).default(2_592_000), doc: 'Refresh-token lifetime (s).' },
  SESSION_MAX_AGE_SECONDS: { group: 'Tokens and keys', schema: int(300, 31_536_000).default(2_592_000), doc: 'Absolute session lifetime from its login, whatever the refreshes (s); the refresh token\'s own TTL is the idle limit. A refresh after it fails with invalid_refresh_token.' },
  MAX_SESSIONS_PER_USER: { group: 'Tokens and keys', schema: int(1, 10_000).default(50), doc: 'Active sessions a user may hold; a new login evicts the least recently used one beyond it (audited as session_evicted).' },
  REFRESH_REUSE_GRACE_SECONDS: { group: 'Tokens and keys', schema: int(0, 300).default(10), doc: 'Retry window for a just-rotated refresh token (s).' },
  // ---- Passwords ---------------------------------------------------------------------------------
  ARGON2_MEMORY_KIB: { group: 'Passwords', schema: int(1024, 1_048_576).default(ARGON2_OWASP_MINIMUM.memoryKiB), doc: 'Argon2id memory cost (KiB); never lower than the OWASP minimum in production.' },
  ARGON2_TIME_COST: { group: 'Passwords', schema: int(1, 10).default(ARGON2_OWASP_MINIMUM.timeCost), doc: 'Argon2id time cost (iterations).' },
  ARGON2_PARALLELISM: { group: 'Passwords', schema: int(1, 16).default(ARGON2_OWASP_MINIMUM.parallelism), doc: 'Argon2id parallelism (lanes).' },
  ARGON2_MAX_CONCURRENCY: { group: 'Passwords', schema: int(1, 64).optional(), doc: 'Password hashes running at once, and the size of the hashing thread pool (default: the CPUs the process may use: os.availableParallelism(), capped by the cgroup CPU quota in /sys/fs/cgroup/cpu.max, at least 1). The threads run below the event loop\'s priority (ARGON2_THREAD_NICE), so all of them may hash.' },
  ARGON2_THREAD_NICE: { group: 'Passwords', schema: int(0, 19).default(10), doc: 'Nice value each password-hashing thread gives itself at start (0–19; higher is lower priority): a login flood takes only CPU the event loop (token checks, every other request) leaves idle. 0 keeps the event loop\'s priority. A thread that cannot lower its priority logs it once and hashes anyway.' },
  ARGON2_MAX_QUEUE: { group: 'Passwords', schema: int(0, 10_000).default(64), doc: 'Password hashes allowed to wait; one more is answered 503 with Retry-After.' },
  PASSWORD_MIN_LENGTH: { group: 'Passwords', schema: int(8, 128).default(12), doc: 'Minimum password length (NIST SP 800-63B; maximum is 128).' },
  // ---- Accounts and mail -------------------------------------------------------------------------
  EMAIL_VERIFICATION: { group: 'Accounts and mail', schema: z.enum(['required', 'off']).optional(), doc: '`required`: signup answers 202 and the account signs in only once its address is verified (login before: 403 `email_not_verified`); `off`: signup answers 201 with tokens. Default `required` in production, `off` elsewhere.' },
  APP_URL: { group: 'Accounts and mail', requiredInProduction: true, schema: z.url({ protocol: /^https?$/ }).optional(), doc: 'The client application mail links point at (`/verify-email`, `/reset-password`, `/confirm-email`, each with `?token=`); never the API. Default outside production: http://localhost:5173.' },
  MAIL_URL: { group: 'Accounts and mail', sources: ['file', 'ref'], secret: true, requiredInProduction: true, schema: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(), doc: 'SMTP server: `smtp://user:pass@host:587` (STARTTLS required; `?tls=off` allows plaintext, e.g. a local relay) or `smtps://…:465`. Unset outside production: mails are written to the log and to DATA_DIR/mail/ as .eml files.' },
  MAIL_CA_FILE: { group: 'Accounts and mail', schema: z.string().min(1).optional(), doc: 'PEM file of CA certificates the SMTP server\'s certificate may chain to, besides the system ones (a private mail relay).' },
  MAIL_FROM: { group: 'Accounts and mail', schema: z.string().min(3).max(320).regex(/^[^\r\n]+$/, 'must be one line').default('Rampart <no-reply@localhost>'), doc: 'Sender of every mail (`Name <address>`).' },
  MAIL_MAX_ATTEMPTS: { group: 'Accounts and mail', schema: int(1, 100).default(8), doc: 'Sends tried per mail before it is dead-lettered (kept in the outbox, counted, alerted on); waits between tries double from 30 s up to 1 h.' },
  MAIL_SENT_RETENTION_DAYS: { group: 'Accounts and mail', schema: int(1, 365).default(7), doc: 'Sent mails stay in the outbox this long (their bodies are wiped at once; the row keeps the address, status and Message-ID for diagnosis), then the sender deletes them.' },
  EMAIL_TOKEN_TTL_SECONDS: { group: 'Accounts and mail', schema: int(300, 604_800).default(86_400), doc: 'Lifetime of email-verification and email-change tokens (s).' },
  PASSWORD_RESET_TTL_SECONDS: { group: 'Accounts and mail', schema: int(300, 86_400).default(1800), doc: 'Lifetime of password-reset tokens (s).' },
  REAUTH_MAX_AGE_SECONDS: { group: 'Accounts and mail', schema: int(30, 86_400).default(300), doc: 'Sensitive operations (email change, export, deletion, revoking other sessions) need a sign-in or reauthentication this recent (s); else 401 `reauthentication_required`.' },
  RATE_LIMIT_MAIL_PER_HOUR: { group: 'Accounts and mail', schema: int(1, 1000).default(5), doc: 'Mails one address can be sent per hour by verify/resend/reset/email-change, across replicas (keyed by the address\'s keyed hash). Over it the answer is still 202 and no mail goes out.' },
  RATE_LIMIT_MAIL_IP_PER_HOUR: { group: 'Limits and lockout', schema: int(1).default(30), doc: 'Per client IP, the routes that send mail (signup, resend, password reset, email change).' },
  AUDIT_HASH_KEY: { group: 'Accounts and mail', sources: ['file', 'ref'], secret: true, requiredInProduction: true, schema: z.string().min(1).optional(), doc: 'Key (base64url, ≥ 32 bytes decoded) of the HMAC that pseudonymises email addresses in the audit trail and in mail rate-limit keys, so a list of addresses cannot reverse them. Development generates an ephemeral one.' },
  // ---- Multi-factor authentication ---------------------------------------------------------------
  MFA_ENCRYPTION_KEY: { group: 'Multi-factor authentication', sources: ['file', 'ref'], secret: true, requiredInProduction: true, schema: z.string().min(1).optional(), doc: 'Keyring encrypting TOTP secrets at rest (AES-256-GCM): JSON {"primary": "<id>", "keys": {"<id>": "<base64url, 32 bytes>", …}} — the primary encrypts, every key decrypts — or one base64url key. Rotate: add a key, roll, make it primary, roll, `secops mfa reencrypt`, remove the old one. Development derives a fixed key and says so.' },
  MFA_REQUIRED: { group: 'Multi-factor authentication', schema: bool.default(false), doc: 'Every account must sign in with a second factor (ASVS 5.0 6.3.3): a token whose `amr` lacks `mfa` reaches only GET /v1/me, enrolment (TOTP, passkeys), reauthentication and logout-all; everything else answers 403 `mfa_enrolment_required`.' },
  MFA_ACCOUNT_MAX_FAILURES_PER_HOUR: { group: 'Multi-factor authentication', schema: int(1, 100).default(20), doc: 'Wrong second factors (TOTP or recovery codes) per account per hour from unknown devices, across replicas; then every second-factor attempt of the account is refused for the rest of the hour (429). Known devices are limited by their own backoff.' },
  WEBAUTHN_RP_ID: { group: 'Multi-factor authentication', schema: z.string().min(1).default('localhost'), doc: 'WebAuthn relying-party ID: the registrable domain passkeys are bound to (the client application\'s host or a parent of it).' },
  WEBAUTHN_RP_NAME: { group: 'Multi-factor authentication', schema: z.string().min(1).default('Rampart'), doc: 'Relying-party name authenticators show.' },
  WEBAUTHN_ORIGINS: { group: 'Multi-factor authentication', schema: z.string().min(1).optional(), doc: 'Comma-separated origins a WebAuthn response may come from (https://app.example.com, android:apk-key-hash:…). Default: the origin of APP_URL.' },
  // ---- Database ----------------------------------------------------------------------------------
  DATABASE_URL: { group: 'Database', sources: ['file', 'ref'], secret: true, requiredInProduction: true, schema: z.string().min(1).optional(), doc: 'PostgreSQL connection string; unset → embedded PGlite under DATA_DIR. May list several servers the libpq way (`postgres://u:p@db-a:5432,db-b:5432/rampart?target_session_attrs=read-write`): each new connection takes the first that accepts writes, so the service follows a promoted replica without a restart (docs/failover.md). `target_session_attrs`: `any` (default), `read-write`, `primary`.' },
  DATABASE_URL_RELOAD_INTERVAL_SECONDS: { group: 'Database', schema: int(0, 86_400).default(60), doc: 'With DATABASE_URL_FILE or DATABASE_URL_REF: how often the connection string is re-read (s); SIGHUP re-reads at once; 0: on SIGHUP only. A changed value (a rotated password, another server) is used by new connections at once, and the older connections close as they come free — no restart (docs/failover.md). An inline DATABASE_URL cannot change.' },
  DATA_DIR: { group: 'Database', schema: z.string().min(1).default('.data'), doc: 'Where the embedded PGlite keeps its files when DATABASE_URL is unset.' },
  DB_POOL_MAX: { group: 'Database', schema: int(1, 500).default(10), doc: 'Upper bound of the PostgreSQL connection pool.' },
  DB_ACQUIRE_TIMEOUT_MS: { group: 'Database', schema: int(100, 600_000).default(5000), doc: 'How long a query may wait for a pooled connection before failing (ms).' },
  DB_STATEMENT_TIMEOUT_MS: { group: 'Database', schema: int(100, 3_600_000).default(15_000), doc: 'Server-side statement_timeout for the service\'s connections (ms). The client also gives up on a query 1 s after it (503), so a server that stops answering cannot hang a request.' },
  MIGRATE_ON_START: { group: 'Database', schema: bool.optional(), doc: 'Apply pending migrations at start (under an advisory lock). Default: true outside production.' },
  // ---- Redis -------------------------------------------------------------------------------------
  REDIS_URL: { group: 'Redis', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'Redis for rate limits, lockouts and revocation shared across replicas; unset → in-process.' },
  REDIS_CA_FILE: { group: 'Redis', schema: z.string().min(1).optional(), doc: 'PEM file of the CA certificate(s) a `rediss://` server\'s certificate must chain to — the only ones trusted for Redis, instead of the system store (an internal CA). Read at start; requires a rediss:// REDIS_URL.' },
  REDIS_KEY_PREFIX: { group: 'Redis', schema: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('rampart'), doc: 'Prefix of every Redis key this deployment writes (lets environments share one Redis safely).' },
  // ---- Limits and lockout ------------------------------------------------------------------------
  RATE_LIMIT_GLOBAL_PER_MINUTE: { group: 'Limits and lockout', schema: int(1).default(600), doc: 'Per client IP, all routes (burst breaker).' },
  RATE_LIMIT_AUTH_PER_MINUTE: { group: 'Limits and lockout', schema: int(1).default(30), doc: 'Per client IP, /v1/auth/*.' },
  RATE_LIMIT_LOGIN_PER_MINUTE: { group: 'Limits and lockout', schema: int(1).default(10), doc: 'Per client IP, POST /v1/auth/login (its own bucket, stricter than refresh).' },
  RATE_LIMIT_REFRESH_PER_MINUTE: { group: 'Limits and lockout', schema: int(1).default(60), doc: 'Per client IP, POST /v1/auth/refresh (its own bucket, so refreshing never starves login).' },
  RATE_LIMIT_SIGNUP_PER_HOUR: { group: 'Limits and lockout', schema: int(1).default(20), doc: 'Per client IP, POST /v1/auth/signup.' },
  RATE_LIMIT_IPV6_PREFIX: { group: 'Limits and lockout', schema: int(32, 128).default(64), doc: 'IPv6 clients are keyed by this network prefix (/64: one subscriber) for every per-IP limit, the (email, IP) lockout and the abuse breaker; IPv4-mapped IPv6 counts as IPv4.' },
  ABUSE_BLOCK_AFTER_REJECTIONS: { group: 'Limits and lockout', schema: int(1).default(100), doc: 'Rate-limit rejections per IP per minute after which the anomaly breaker blocks that IP.' },
  ABUSE_BLOCK_SECONDS: { group: 'Limits and lockout', schema: int(1, 86_400).default(900), doc: 'How long the anomaly breaker blocks an IP (s).' },
  RATE_LIMIT_USER_PER_MINUTE: { group: 'Limits and lockout', schema: int(1).default(300), doc: 'Per user, authenticated routes.' },
  RATE_LIMIT_LEASE_MAX: { group: 'Limits and lockout', schema: int(1, 1000).default(64), doc: 'The per-IP (global) and per-user buckets claim up to 2 % of their limit from Redis at once, at most this many points, and spend them locally: one round trip every few dozen requests. Redis counts claimed points as used, so replicas together never admit more than the limit; a client may be refused up to (replicas − 1) × (lease − 1) requests early. 1: every request asks Redis. Buckets under 100 points are always exact.' },
  LOGIN_MAX_FAILURES: { group: 'Limits and lockout', schema: int(1, 1000).default(5), doc: 'Consecutive failures per (email, IP) before 429 too_many_attempts.' },
  LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: { group: 'Limits and lockout', schema: int(1, 100).default(100), doc: 'Failed logins per account per hour from all IPs before the account is locked for the rest of the hour (NIST SP 800-63B: ≤ 100).' },
  // ---- Chat and model ----------------------------------------------------------------------------
  MAX_STREAMS_PER_USER: { group: 'Chat and model', schema: int(1, 1000).default(3), doc: 'Former name of `MAX_MODEL_CALLS_PER_USER`, still accepted (used when that is unset).' },
  MAX_STREAMS_TOTAL: { group: 'Chat and model', schema: int(1, 100_000).default(1000), doc: 'Concurrent SSE streams per process (all users).' },
  MAX_MODEL_CALLS_PER_USER: { group: 'Chat and model', schema: int(1, 1000).optional(), doc: 'Concurrent model calls (streamed or not) per user, counted across all replicas; unset → `MAX_STREAMS_PER_USER` (its former name, still accepted), default 3.' },
  MAX_MODEL_CALLS_TOTAL: { group: 'Chat and model', schema: int(1, 1_000_000).default(1000), doc: 'Concurrent model calls of the whole deployment (all users, all replicas).' },
  MODEL_CALL_LEASE_SECONDS: { group: 'Chat and model', schema: int(1, 3600).default(30), doc: 'Lease of a model-call slot in Redis, renewed while the call runs: a crashed replica\'s slots come back after it.' },
  MODEL_TOKENS_PER_DAY: { group: 'Chat and model', schema: int(0).default(200_000), doc: 'Tokens (prompt + completion) a user may spend per UTC day; 0 = unlimited; `model_budgets` overrides per user.' },
  MODEL_TOKENS_PER_MONTH: { group: 'Chat and model', schema: int(0).default(2_000_000), doc: 'Tokens a user may spend per UTC calendar month; 0 = unlimited; `model_budgets` overrides per user.' },
  MODEL_MAX_OUTPUT_TOKENS: { group: 'Chat and model', schema: int(1, 1_000_000).default(1024), doc: 'Output cap of every model call (sent upstream as `max_tokens`) and the output part of its budget reservation.' },
  SSE_HEARTBEAT_MS: { group: 'Chat and model', schema: int(50, 15_000).default(15_000), doc: 'Interval of the `: ping` heartbeat on open SSE streams (ms; docs/api.md: at least every 15 s).' },
  BUILTIN_MODEL_DELAY_MS: { group: 'Chat and model', schema: int(0, 10_000).default(15), doc: 'Pause between the builtin model\'s words (ms); 0 in tests and benchmarks.' },
  REPLY_LEASE_SECONDS: { group: 'Chat and model', schema: int(3, 3600).default(30), doc: 'Lease a replica holds on a reply it generates, renewed every third of it; once it expires unrenewed (the replica died) the orphan sweeper marks the reply `failed`.' },
  ORPHAN_SWEEP_INTERVAL_SECONDS: { group: 'Chat and model', schema: int(1, 3600).default(10), doc: 'How often each replica looks for replies whose lease expired (orphaned by a dead replica) and marks them `failed`.' },
  REPLY_EVENTS_RETENTION_SECONDS: { group: 'Chat and model', schema: int(60, 2_592_000).default(86_400), doc: 'How long the deltas of a finished reply are kept for resuming it (`GET …/events` with `Last-Event-ID`); older ones are purged every 10 minutes, and resuming such a reply gives only `done` with the whole stored reply.' },
  MODEL_PROVIDER: { group: 'Chat and model', schema: z.enum(['builtin', 'openai']).default('builtin'), doc: '`builtin` (local deterministic model) or `openai` (OpenAI-compatible chat completions).' },
  MODEL_BASE_URL: { group: 'Chat and model', schema: z.url().optional(), doc: 'Upstream model base URL (openai provider).' },
  MODEL_API_KEY: { group: 'Chat and model', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'Upstream model API key (openai provider).' },
  MODEL_NAME: { group: 'Chat and model', schema: z.string().min(1).optional(), doc: 'Upstream model name (openai provider).' },
  MODEL_TIMEOUT_MS: { group: 'Chat and model', schema: int(100, 600_000).default(60_000), doc: 'Upstream model total timeout (ms).' },
  MODEL_FALLBACK_BASE_URL: { group: 'Chat and model', schema: z.url().optional(), doc: 'A second OpenAI-compatible endpoint, used for a call when the primary model refuses, fails or times out before its first token (never after: the client has seen its words). Unset: no fallback.' },
  MODEL_FALLBACK_API_KEY: { group: 'Chat and model', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'API key of the fallback endpoint.' },
  MODEL_FALLBACK_NAME: { group: 'Chat and model', schema: z.string().min(1).optional(), doc: 'Model name at the fallback endpoint (required with `MODEL_FALLBACK_BASE_URL`); the ledger and `model_tokens_total` record it with provider `fallback`.' },
  MODEL_FALLBACK_TIMEOUT_MS: { group: 'Chat and model', schema: int(100, 600_000).optional(), doc: 'Total timeout of a fallback call (ms); unset → `MODEL_TIMEOUT_MS`.' },
  IDEMPOTENCY_TTL_SECONDS: { group: 'Chat and model', schema: int(60, 604_800).default(86_400), doc: 'How long the answer of a request with an `Idempotency-Key` (POST /v1/conversations, POST …/messages) is kept and replayed to retries with the same key (s); expired keys are purged and count as unused.' },
  // ---- Secret stores -----------------------------------------------------------------------------
  VAULT_ADDR: { group: 'Secret stores', schema: z.url().optional(), doc: 'Vault address for vault:// references, e.g. https://vault.internal:8200.' },
  VAULT_TOKEN: { group: 'Secret stores', secret: true, schema: z.string().min(1).optional(), doc: 'Vault token (token auth). Prefer VAULT_TOKEN_FILE or Kubernetes auth.' },
  VAULT_TOKEN_FILE: { group: 'Secret stores', schema: z.string().min(1).optional(), doc: 'File holding the Vault token (e.g. written by the Vault agent); re-read whenever a token is needed.' },
  VAULT_NAMESPACE: { group: 'Secret stores', schema: z.string().min(1).optional(), doc: 'Vault Enterprise/HCP namespace, sent as X-Vault-Namespace.' },
  VAULT_K8S_ROLE: { group: 'Secret stores', schema: z.string().min(1).optional(), doc: 'Vault Kubernetes auth role; used when no token is set (logs in with the pod\'s service-account token).' },
  VAULT_K8S_MOUNT: { group: 'Secret stores', schema: z.string().min(1).default('kubernetes'), doc: 'Mount path of Vault\'s Kubernetes auth method.' },
  VAULT_K8S_TOKEN_PATH: { group: 'Secret stores', schema: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'), doc: 'Service-account token presented to Vault\'s Kubernetes login.' },
  AWS_REGION: { group: 'Secret stores', schema: z.string().min(1).optional(), doc: 'AWS region for aws-sm:// and aws-ssm:// references (else the SDK\'s default chain). Credentials: the SDK\'s default chain.' },
  AWS_ENDPOINT_URL: { group: 'Secret stores', schema: z.url().optional(), doc: 'AWS endpoint override (e.g. a VPC endpoint or a local test server).' },
  // ---- secops ------------------------------------------------------------------------------------
  BACKUP_DIR: { group: 'secops', schema: z.string().min(1).default('./backups'), doc: 'Where `secops backup` keeps backups (--dir).' },
  BACKUP_ENCRYPT_KEY_FILE: { group: 'secops', schema: z.string().min(1).optional(), doc: 'File holding the 32-byte backup encryption key (--encrypt-key-file).' },
  BACKUP_ENCRYPT_KEY_REF: { group: 'secops', schema: z.string().min(1).optional(), doc: 'Secret reference to the backup encryption key, e.g. vault://secret/rampart#backup_key (--encrypt-key-ref).' },
  PITR_CONFIG: { group: 'secops', schema: z.string().min(1).default('/etc/pgbackrest/pgbackrest.conf'), doc: 'pgBackRest configuration file `secops pitr setup` writes and every `secops pitr` command (and the server\'s archive_command) reads.' },
  PITR_STANZA: { group: 'secops', schema: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('rampart'), doc: 'pgBackRest stanza of the Rampart database.' },
  PITR_REPO_PATH: { group: 'secops', schema: z.string().min(1).default('/var/lib/pgbackrest'), doc: 'pgBackRest repository directory (repo1-path): base backups and archived WAL.' },
  PITR_RETENTION_FULL: { group: 'secops', schema: int(1, 1000).default(2), doc: 'Full backups kept (repo1-retention-full); WAL older than the oldest kept backup is expired with it.' },
  PITR_REPO_CIPHER_PASS: { group: 'secops', sources: ['file', 'ref'], secret: true, schema: z.string().min(20, 'at least 20 characters').optional(), doc: 'Passphrase encrypting the pgBackRest repository (repo1-cipher-type=aes-256-cbc); `secops pitr setup` refuses to write a configuration without one. Generate: `openssl rand -base64 48`.' },
  RETENTION_ENCRYPT_KEY_FILE: { group: 'secops', schema: z.string().min(1).optional(), doc: 'File holding the 32-byte key `secops retention run` encrypts archive parts with (AES-256-GCM, as backups; --encrypt-key-file). Unset (and no _REF): parts are written unencrypted, still 0600 in 0700 directories.' },
  RETENTION_ENCRYPT_KEY_REF: { group: 'secops', schema: z.string().min(1).optional(), doc: 'Secret reference to the retention archive key instead, e.g. vault://secret/rampart#retention_key (--encrypt-key-ref).' },
  BACKUP_SIGNING_KEY: { group: 'secops', sources: ['file', 'ref'], secret: true, schema: z.string().min(1).optional(), doc: 'Backup manifest signing keyring: {"signing": "<kid>", "keys": [JWK, …]} with Ed25519 `OKP` keys (EdDSA; a key without `d` verifies only) or `oct` keys (HS256, ≥ 32 bytes), or one base64url HMAC key of ≥ 32 bytes. Required by `secops backup create`, and to verify (restore, drill, list, prune) unless --allow-unsigned. Keys other than the signing one verify only (rotation). `secops backup signing-key generate` makes one.' },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type Shape = { [K in SettingName]: (typeof SETTINGS)[K]['schema'] };

/** The environment schema, derived from the table (one key per setting; sources already resolved). */
export const envSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, spec]) => [name, spec.schema])) as Shape,
);

export type Env = z.infer<typeof envSchema>;

const isSet = (v: string | undefined): v is string => v !== undefined && v !== '';

/** The names of the settings that may come from `source`. */
export function settingsWithSource(source: SettingSource): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) =>
    ((SETTINGS[name] as SettingSpec).sources ?? []).includes(source),
  );
}

export type PickedSource =
  | { kind: 'none' }
  | { kind: 'value'; value: string }
  | { kind: 'file'; path: string }
  | { kind: 'ref'; reference: string }
  | { kind: 'conflict'; problem: string };

/**
 * Which source of `name` is set in `env` — its own variable, NAME_FILE or NAME_REF, as the table
 * allows — and a problem when more than one is (an empty variable counts as unset). The one place the
 * "exactly one source" rule lives: start-up, the keyring reload and the CLI all ask here.
 */
export function pickSource(env: Readonly<Record<string, string | undefined>>, name: SettingName): PickedSource {
  const sources = (SETTINGS[name] as SettingSpec).sources ?? [];
  const set: PickedSource[] = [];
  if (sources.includes('ref') && isSet(env[`${name}_REF`])) set.push({ kind: 'ref', reference: env[`${name}_REF`] as string });
  if (isSet(env[name])) set.push({ kind: 'value', value: env[name] as string });
  if (sources.includes('file') && isSet(env[`${name}_FILE`])) set.push({ kind: 'file', path: env[`${name}_FILE`] as string });
  if (set.length === 0) return { kind: 'none' };
  if (set.length === 1) return set[0] as PickedSource;
  const names = set.map((s) => (s.kind === 'value' ? name : s.kind === 'file' ? `${name}_FILE` : `${name}_REF`));
  return { kind: 'conflict', problem: `${names.join(' and ')} are both set; set only one` };
}

/**
 * The value a picked source gives — its own variable, or NAME_FILE read with `readFile` (one trailing
 * newline dropped) — with problems (never a value) pushed to `problems`. A `ref` is the caller's to
 * resolve first (a secret store is asynchronous): start-up has resolved every NAME_REF already, the
 * keyring reload reads its references itself.
 */
export function valueOfSource(
  name: SettingName,
  source: Exclude<PickedSource, { kind: 'ref' }>,
  readFile: (path: string) => string,
  problems: string[],
): string | undefined {
  switch (source.kind) {
    case 'none':
      return undefined;
    case 'value':
      return source.value;
    case 'conflict':
      problems.push(source.problem);
      return undefined;
    case 'file':
      try {
        const text = readFile(source.path).replace(/\r?\n$/, '');
        // An empty secret file is a mistake (a volume mounted before the secret was written), never "unset".
        if (text === '') problems.push(`${name}_FILE: ${source.path} is empty`);
        return text === '' ? undefined : text;
      } catch (err) {
        problems.push(`${name}_FILE: cannot read ${source.path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        return undefined;
      }
  }
}

/**
 * The settings `names` parsed from the raw environment (defaults applied, empty values unset), without
 * the rest of the configuration: what a CLI command that needs a few settings reads. Throws the zod
 * error's issues as `NAME: message` lines (never the value).
 */
export function readSettings<K extends SettingName>(
  env: Readonly<Record<string, string | undefined>>,
  names: readonly K[],
): { values: Pick<Env, K> } | { problems: string[] } {
  // Each setting is parsed by its own schema from the table: the same parser and default as at start-up.
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of names) {
    const parsed = (SETTINGS[name] as SettingSpec).schema.safeParse(isSet(env[name]) ? env[name] : undefined);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(...parsed.error.issues.map((i) => `${name}: ${i.message}`));
  }
  if (problems.length === 0) return { values: values as Pick<Env, K> };
  return { problems };
}

const MIN_JWT_SECRET_BYTES = 64;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * JWT_SECRET's rule, for start-up and the keyring reload alike: base64url, at least 64 bytes decoded
 * (an HS256 key shorter than its hash output weakens every token).
 */
export function decodeJwtSecret(text: string): { bytes: Uint8Array } | { problem: string } {
  if (!BASE64URL.test(text)) return { problem: 'JWT_SECRET must be base64url' };
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (bytes.length < MIN_JWT_SECRET_BYTES)
    return {
      problem: `JWT_SECRET is too short: ${bytes.length} bytes decoded, at least ${MIN_JWT_SECRET_BYTES} required (generate one with: npx secops secret generate)`,
    };
  return { bytes };
}

export const JWT_SECRET_BYTES = MIN_JWT_SECRET_BYTES;
