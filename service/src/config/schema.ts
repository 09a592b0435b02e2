import { z } from 'zod';

/**
 * Every environment variable the service reads, with its default and its meaning.
 * This is the only place that knows variable names; `loadConfig` turns them into a frozen `Config`.
 * The contract is docs/api.md ("Configuration").
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** OWASP Password Storage Cheat Sheet minimum for Argon2id; nothing may be configured below it. */
export const ARGON2_OWASP_MINIMUM = Object.freeze({ memoryKiB: 19456, timeCost: 2, parallelism: 1 });

export const envSchema = z.object({
  /** `production` refuses to start when a required secret or setting is missing or weak. */
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** API listener port. */
  PORT: int(0, 65535).default(3000),
  /** API listener address. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Metrics listener port (never exposed through the ingress). 0 picks a free port. */
  METRICS_PORT: int(0, 65535).default(9464),
  /** PostgreSQL connection string; unset → embedded PGlite under DATA_DIR. Required in production. */
  DATABASE_URL: z.string().min(1).optional(),
  /** Where the embedded PGlite keeps its files when DATABASE_URL is unset. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Upper bound of the PostgreSQL connection pool. */
  DB_POOL_MAX: int(1, 500).default(10),
  /** How long a query may wait for a pooled connection before failing (ms). */
  DB_ACQUIRE_TIMEOUT_MS: int(100, 600_000).default(5000),
  /**
   * Server-side statement_timeout for the service's connections (ms). The client also gives up on a
   * query 1 s after it (503), so a server that stops answering cannot hang a request.
   */
  DB_STATEMENT_TIMEOUT_MS: int(100, 3_600_000).default(15_000),
  /** Apply pending migrations at start (under an advisory lock). Default: true outside production. */
  MIGRATE_ON_START: bool.optional(),
  /** Redis for rate limits, lockouts and revocation shared across replicas; unset → in-process. */
  REDIS_URL: z.string().min(1).optional(),
  /** Prefix of every Redis key this deployment writes (lets environments share one Redis safely). */
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('rampart'),
  /** HS256 signing secret, base64url, ≥ 64 bytes decoded. Development generates an ephemeral one. */
  JWT_SECRET: z.string().min(1).optional(),
  /** File holding JWT_SECRET (Kubernetes secret volume). */
  JWT_SECRET_FILE: z.string().min(1).optional(),
  /**
   * JWT keyring as JSON: {"signing": "<kid>", "keys": [JWK, …]} — `oct` keys (HS256, ≥ 64 bytes) or
   * Ed25519 `OKP` keys (EdDSA; private for the signing key, public is enough for verify-only ones).
   * Takes precedence over JWT_SECRET. Keys other than the signing one verify only (rotation).
   */
  JWT_KEYS: z.string().min(1).optional(),
  /** File holding JWT_KEYS. */
  JWT_KEYS_FILE: z.string().min(1).optional(),
  /**
   * How often the keyring (JWT_KEYS/JWT_SECRET through *_FILE or *_REF) is re-read without a restart (s);
   * SIGHUP re-reads at once. 0: on SIGHUP only. `secops keys rotate` waits this long between phases.
   */
  JWT_KEYS_RELOAD_INTERVAL_SECONDS: int(0, 86_400).default(60),
  /** `iss` claim of access tokens. */
  JWT_ISSUER: z.string().min(1).default('rampart'),
  /** `aud` claim of access tokens. */
  JWT_AUDIENCE: z.string().min(1).default('rampart-api'),
  /** Access-token lifetime (s). */
  ACCESS_TOKEN_TTL_SECONDS: int(30, 86_400).default(900),
  /** Refresh-token lifetime (s). */
  REFRESH_TOKEN_TTL_SECONDS: int(60, 31_536_000).default(2_592_000),
  /** Argon2id memory cost (KiB); never lower than the OWASP minimum in production. */
  ARGON2_MEMORY_KIB: int(1024, 1_048_576).default(ARGON2_OWASP_MINIMUM.memoryKiB),
  /** Argon2id time cost (iterations). */
  ARGON2_TIME_COST: int(1, 10).default(ARGON2_OWASP_MINIMUM.timeCost),
  /** Argon2id parallelism (lanes). */
  ARGON2_PARALLELISM: int(1, 16).default(ARGON2_OWASP_MINIMUM.parallelism),
  /** Password hashes running at once (default: CPU count − 1, at least 1: a core stays with the event loop); keeps libuv threads free for JWT work. */
  ARGON2_MAX_CONCURRENCY: int(1, 64).optional(),
  /** Password hashes allowed to wait; one more is answered 503 with Retry-After. */
  ARGON2_MAX_QUEUE: int(0, 10_000).default(64),
  /** Time a client has to send the request headers before the connection is cut with 408 (ms; slowloris defence). */
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Time a client has to send the whole request, body included, before 408 (ms). */
  HTTP_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  /** How long an idle keep-alive connection stays open (ms); keep it above the load balancer's idle timeout only if one sits in front. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  /** Request body limit (bytes); large enough for a 32,000-character message in any script. */
  MAX_REQUEST_SIZE_BYTES: int(1024, 16_777_216).default(262_144),
  /** Comma-separated CIDRs whose X-Forwarded-For/-Proto are honoured; empty: headers ignored. */
  TRUSTED_PROXIES: z.string().default(''),
  /** Per client IP, all routes (burst breaker). */
  RATE_LIMIT_GLOBAL_PER_MINUTE: int(1).default(600),
  /** Per client IP, /v1/auth/*. */
  RATE_LIMIT_AUTH_PER_MINUTE: int(1).default(30),
  /** Per client IP, POST /v1/auth/login (its own bucket, stricter than refresh). */
  RATE_LIMIT_LOGIN_PER_MINUTE: int(1).default(10),
  /** Per client IP, POST /v1/auth/refresh (its own bucket, so refreshing never starves login). */
  RATE_LIMIT_REFRESH_PER_MINUTE: int(1).default(60),
  /** Per client IP, POST /v1/auth/signup. */
  RATE_LIMIT_SIGNUP_PER_HOUR: int(1).default(20),
  /** Rate-limit rejections per IP per minute after which the anomaly breaker blocks that IP. */
  ABUSE_BLOCK_AFTER_REJECTIONS: int(1).default(100),
  /** How long the anomaly breaker blocks an IP (s). */
  ABUSE_BLOCK_SECONDS: int(1, 86_400).default(900),
  /** Per user, authenticated routes. */
  RATE_LIMIT_USER_PER_MINUTE: int(1).default(300),
  /** Consecutive failures per (email, IP) before 429 too_many_attempts. */
  LOGIN_MAX_FAILURES: int(1, 1000).default(5),
  /** Failed logins per account per hour from all IPs before the account is locked for the rest of the hour (NIST SP 800-63B: ≤ 100). */
  LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: int(1, 100).default(100),
  /** Retry window for a just-rotated refresh token (s). */
  REFRESH_REUSE_GRACE_SECONDS: int(0, 300).default(10),
  /** Minimum password length (NIST SP 800-63B; maximum is 128). */
  PASSWORD_MIN_LENGTH: int(8, 128).default(12),
  /** Concurrent SSE streams per user. */
  MAX_STREAMS_PER_USER: int(1, 1000).default(3),
  /** Concurrent SSE streams per process (all users). */
  MAX_STREAMS_TOTAL: int(1, 100_000).default(1000),
  /** Interval of the `: ping` heartbeat on open SSE streams (ms; docs/api.md: at least every 15 s). */
  SSE_HEARTBEAT_MS: int(50, 15_000).default(15_000),
  /** Pause between the builtin model's words (ms); 0 in tests and benchmarks. */
  BUILTIN_MODEL_DELAY_MS: int(0, 10_000).default(15),
  /** `builtin` (local deterministic model) or `openai` (OpenAI-compatible chat completions). */
  MODEL_PROVIDER: z.enum(['builtin', 'openai']).default('builtin'),
  /** Upstream model base URL (openai provider). */
  MODEL_BASE_URL: z.url().optional(),
  /** Upstream model API key (openai provider). */
  MODEL_API_KEY: z.string().min(1).optional(),
  /** Upstream model name (openai provider). */
  MODEL_NAME: z.string().min(1).optional(),
  /** Upstream model total timeout (ms). */
  MODEL_TIMEOUT_MS: int(100, 600_000).default(60_000),
  /** pino level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** OTLP/HTTP traces endpoint; unset → tracing off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  /** Drain time after SIGTERM before remaining connections are cut (ms). */
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(25_000),
  /** Time between readiness turning 503 and the listener closing, so load balancers stop routing first (ms). Default 5000 in production, 0 elsewhere. */
  SHUTDOWN_DELAY_MS: int(0, 600_000).optional(),
  /** libuv thread-pool size; set by bin/boot.js (CPU count + 4) unless the operator set it. Reported at start. */
  UV_THREADPOOL_SIZE: int(1, 1024).optional(),
  // Secret references (config/references.ts): NAME_REF reads NAME through a secret store, resolved
  // before this schema is applied; set at most one of NAME, NAME_FILE and NAME_REF. Forms: env:NAME,
  // file:/path, vault://mount/path#key, aws-sm://secret-id[#key], aws-ssm:///parameter/name.
  /** Reference to JWT_SECRET in a secret store (re-read by the keyring reload). */
  JWT_SECRET_REF: z.string().min(1).optional(),
  /** Reference to the JWT_KEYS document in a secret store (re-read by the keyring reload). */
  JWT_KEYS_REF: z.string().min(1).optional(),
  /** Reference to DATABASE_URL in a secret store (read at start). */
  DATABASE_URL_REF: z.string().min(1).optional(),
  /** Reference to REDIS_URL in a secret store (read at start). */
  REDIS_URL_REF: z.string().min(1).optional(),
  /** Reference to MODEL_API_KEY in a secret store (read at start). */
  MODEL_API_KEY_REF: z.string().min(1).optional(),
  /** Vault address for vault:// references, e.g. https://vault.internal:8200. */
  VAULT_ADDR: z.url().optional(),
  /** Vault token (token auth). Prefer VAULT_TOKEN_FILE or Kubernetes auth. */
  VAULT_TOKEN: z.string().min(1).optional(),
  /** File holding the Vault token (e.g. written by the Vault agent); re-read whenever a token is needed. */
  VAULT_TOKEN_FILE: z.string().min(1).optional(),
  /** Vault Enterprise/HCP namespace, sent as X-Vault-Namespace. */
  VAULT_NAMESPACE: z.string().min(1).optional(),
  /** Vault Kubernetes auth role; used when no token is set (logs in with the pod's service-account token). */
  VAULT_K8S_ROLE: z.string().min(1).optional(),
  /** Mount path of Vault's Kubernetes auth method. */
  VAULT_K8S_MOUNT: z.string().min(1).default('kubernetes'),
  /** Service-account token presented to Vault's Kubernetes login. */
  VAULT_K8S_TOKEN_PATH: z.string().min(1).default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
  /** AWS region for aws-sm:// and aws-ssm:// references (else the SDK's default chain). Credentials: the SDK's default chain. */
  AWS_REGION: z.string().min(1).optional(),
  /** AWS endpoint override (e.g. a VPC endpoint or a local test server). */
  AWS_ENDPOINT_URL: z.url().optional(),
  /** Git SHA reported by /version; else the build info file, else `git rev-parse`, else `unknown`. */
  GIT_SHA: z.string().regex(/^[0-9a-f]{7,40}$/).optional(),
});

export type Env = z.infer<typeof envSchema>;
