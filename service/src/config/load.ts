import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ARGON2_OWASP_MINIMUM, type Env, envSchema } from './schema.js';
import { Secret } from './secret.js';

export interface Config {
  readonly env: 'development' | 'test' | 'production';
  readonly http: {
    readonly port: number;
    readonly host: string;
    readonly maxRequestSizeBytes: number;
    readonly trustedProxies: readonly string[];
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  readonly metrics: { readonly port: number };
  readonly database: {
    /** undefined → embedded PGlite in `dataDir`. */
    readonly url: Secret<string> | undefined;
    readonly dataDir: string;
    readonly poolMax: number;
    readonly acquireTimeoutMs: number;
    readonly statementTimeoutMs: number;
    readonly migrateOnStart: boolean;
  };
  readonly redisUrl: Secret<string> | undefined;
  readonly redisKeyPrefix: string;
  readonly jwt: {
    /** HS256 secret (from JWT_SECRET, or ephemeral); undefined when JWT_KEYS gives the keyring. */
    readonly secret: Secret<Uint8Array> | undefined;
    /** The JWT_KEYS document, validated by the keyring when it is built. */
    readonly keys: Secret<string> | undefined;
    readonly issuer: string;
    readonly audience: string;
    /** true when no secret was configured and a random one was generated for this process. */
    readonly ephemeral: boolean;
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    readonly refreshReuseGraceSeconds: number;
    /** Keyring re-read interval (ms); 0: on SIGHUP only. */
    readonly reloadIntervalMs: number;
  };
  readonly argon2: {
    readonly memoryKiB: number;
    readonly timeCost: number;
    readonly parallelism: number;
    readonly maxConcurrent: number;
    readonly maxQueue: number;
  };
  readonly limits: {
    readonly globalPerMinute: number;
    readonly authPerMinute: number;
    readonly loginPerMinute: number;
    readonly refreshPerMinute: number;
    readonly signupPerHour: number;
    readonly userPerMinute: number;
    readonly abuseBlockAfterRejections: number;
    readonly abuseBlockSeconds: number;
    readonly loginMaxFailures: number;
    readonly loginAccountMaxFailuresPerHour: number;
    readonly maxStreamsPerUser: number;
    readonly maxStreamsTotal: number;
  };
  readonly sseHeartbeatMs: number;
  readonly passwordMinLength: number;
  readonly model: {
    readonly provider: 'builtin' | 'openai';
    readonly baseUrl: string | undefined;
    readonly apiKey: Secret<string> | undefined;
    readonly name: string | undefined;
    readonly timeoutMs: number;
    readonly builtinDelayMs: number;
  };
  readonly logLevel: Env['LOG_LEVEL'];
  readonly otlpEndpoint: string | undefined;
  readonly shutdown: { readonly graceMs: number; readonly delayMs: number };
  readonly gitSha: string | undefined;
  /** libuv thread-pool size in force (undefined: libuv's default of 4). */
  readonly threadPoolSize: number | undefined;
}

/** Thrown when the environment cannot give a safe configuration; one line per problem. */
/**
 * Password hashes running at once unless ARGON2_MAX_CONCURRENCY says otherwise: one fewer than the
 * CPUs, at least one. A hash holds a core for its whole run; with every core hashing, the event loop
 * (JWT checks, database and Redis replies, every other request) waits for the scheduler behind them.
 * Measured on 2 cores, alternating runs on a busy machine (docs/performance.md): medians of the p99
 * during a login flood over idle were 3.6x (/healthz) and 7.3x (/v1/me) at 2 hashes, 1.3x and 2.4x at
 * 1; login reached a median 0.89x of raw argon2 at its concurrency instead of 0.74x.
 */
export function defaultHashConcurrency(cpus: number = availableParallelism()): number {
  return Math.max(1, cpus - 1);
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things an operator must hear about at start-up (e.g. an ephemeral JWT secret). */
  readonly warnings: readonly string[];
}

export interface LoadConfigOptions {
  readFile?: (path: string) => string;
}

const MIN_JWT_SECRET_BYTES = 64;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Reads `NAME` or `NAME_FILE` (never both); the file's trailing newline is dropped. */
function readSecretVar(
  env: Record<string, string | undefined>,
  name: string,
  readFile: (path: string) => string,
  problems: string[],
): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
    problems.push(`${name} and ${name}_FILE are both set; set only one`);
    return undefined;
  }
  if (file) {
    try {
      return readFile(file).replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  return direct === '' ? undefined : direct;
}

/**
 * Parses the environment once into a frozen, typed Config.
 * Production refuses (ConfigError) anything missing or weak; development fills in safe
 * ephemeral values and says so in `warnings`.
 */
export function loadConfig(
  rawEnv: Record<string, string | undefined>,
  options: LoadConfigOptions = {},
): LoadedConfig {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const problems: string[] = [];
  const warnings: string[] = [];

  // Empty strings mean "unset" for every variable, as in most deployment tools.
  const env: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = rawEnv[key];
    if (v !== undefined && v !== '') env[key] = v;
  }
  const jwtSecretText = readSecretVar(rawEnv, 'JWT_SECRET', readFile, problems);
  const jwtKeysText = readSecretVar(rawEnv, 'JWT_KEYS', readFile, problems);
  const databaseUrl = readSecretVar(rawEnv, 'DATABASE_URL', readFile, problems);
  const redisUrl = readSecretVar(rawEnv, 'REDIS_URL', readFile, problems);
  const modelApiKey = readSecretVar(rawEnv, 'MODEL_API_KEY', readFile, problems);
  env.JWT_SECRET = jwtSecretText;
  env.JWT_KEYS = jwtKeysText;
  delete env.JWT_KEYS_FILE;
  env.DATABASE_URL = databaseUrl;
  env.REDIS_URL = redisUrl;
  env.MODEL_API_KEY = modelApiKey;
  delete env.JWT_SECRET_FILE;

  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      // Never echo the received value: it may be a secret.
      problems.push(`${key}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  if (production && !e.DATABASE_URL && !problems.some((p) => p.startsWith('DATABASE_URL')))
    problems.push('DATABASE_URL is required in production');
  // Node checks the headers deadline inside the request deadline: a longer one would never fire.
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS)
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');

  let secretBytes: Uint8Array | undefined;
  let ephemeral = false;
  if (e.JWT_KEYS !== undefined) {
    // The keyring document is checked in full (JSON, key types, sizes) when deps builds the keyring.
  } else if (e.JWT_SECRET !== undefined) {
    if (!BASE64URL.test(e.JWT_SECRET)) {
      problems.push('JWT_SECRET must be base64url');
    } else {
      secretBytes = new Uint8Array(Buffer.from(e.JWT_SECRET, 'base64url'));
      if (secretBytes.length < MIN_JWT_SECRET_BYTES) {
        const msg = `JWT_SECRET is too short: ${secretBytes.length} bytes decoded, at least ${MIN_JWT_SECRET_BYTES} required (generate one with: npx secops secret generate)`;
        if (production) problems.push(msg);
        else warnings.push(msg);
      }
    }
  } else if (production) {
    // An unreadable or ambiguous secret was already reported; "required" would only repeat it.
    if (!problems.some((p) => p.startsWith('JWT_'))) {
      problems.push('JWT_SECRET (or JWT_SECRET_FILE, or JWT_KEYS) is required in production');
    }
  } else if (problems.length === 0) {
    secretBytes = new Uint8Array(randomBytes(MIN_JWT_SECRET_BYTES));
    ephemeral = true;
    warnings.push(
      'JWT_SECRET is not set: using an EPHEMERAL random secret for this process only. Every token is invalid after a restart and replicas cannot verify each other’s tokens. Never run like this in production.',
    );
  }

  const argon2 = {
    memoryKiB: e.ARGON2_MEMORY_KIB,
    timeCost: e.ARGON2_TIME_COST,
    parallelism: e.ARGON2_PARALLELISM,
    maxConcurrent: e.ARGON2_MAX_CONCURRENCY ?? defaultHashConcurrency(),
    maxQueue: e.ARGON2_MAX_QUEUE,
  };
  const weakArgon: string[] = [];
  if (argon2.memoryKiB < ARGON2_OWASP_MINIMUM.memoryKiB)
    weakArgon.push(`ARGON2_MEMORY_KIB=${argon2.memoryKiB} is below the OWASP minimum ${ARGON2_OWASP_MINIMUM.memoryKiB}`);
  if (argon2.timeCost < ARGON2_OWASP_MINIMUM.timeCost)
    weakArgon.push(`ARGON2_TIME_COST=${argon2.timeCost} is below the OWASP minimum ${ARGON2_OWASP_MINIMUM.timeCost}`);
  if (argon2.parallelism < ARGON2_OWASP_MINIMUM.parallelism)
    weakArgon.push(`ARGON2_PARALLELISM=${argon2.parallelism} is below the OWASP minimum ${ARGON2_OWASP_MINIMUM.parallelism}`);
  if (production) problems.push(...weakArgon);
  else warnings.push(...weakArgon.map((w) => `${w} (refused in production)`));

  if (e.MODEL_PROVIDER === 'openai') {
    if (!e.MODEL_BASE_URL) problems.push('MODEL_BASE_URL is required when MODEL_PROVIDER=openai');
    if (!e.MODEL_NAME) problems.push('MODEL_NAME is required when MODEL_PROVIDER=openai');
  }

  const trustedProxies = e.TRUSTED_PROXIES.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const cidr of trustedProxies) {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(cidr)) problems.push(`TRUSTED_PROXIES: "${cidr}" is not an IP address or CIDR`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    env: e.NODE_ENV,
    http: {
      port: e.PORT,
      host: e.HOST,
      maxRequestSizeBytes: e.MAX_REQUEST_SIZE_BYTES,
      trustedProxies,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    },
    metrics: { port: e.METRICS_PORT },
    database: {
      url: e.DATABASE_URL ? new Secret(e.DATABASE_URL) : undefined,
      dataDir: e.DATA_DIR,
      poolMax: e.DB_POOL_MAX,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      migrateOnStart: e.MIGRATE_ON_START ?? !production,
    },
    redisUrl: e.REDIS_URL ? new Secret(e.REDIS_URL) : undefined,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    jwt: {
      secret: secretBytes ? new Secret(secretBytes) : undefined,
      keys: e.JWT_KEYS ? new Secret(e.JWT_KEYS) : undefined,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      ephemeral,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
      reloadIntervalMs: e.JWT_KEYS_RELOAD_INTERVAL_SECONDS * 1000,
    },
    argon2,
    limits: {
      globalPerMinute: e.RATE_LIMIT_GLOBAL_PER_MINUTE,
      authPerMinute: e.RATE_LIMIT_AUTH_PER_MINUTE,
      loginPerMinute: e.RATE_LIMIT_LOGIN_PER_MINUTE,
      refreshPerMinute: e.RATE_LIMIT_REFRESH_PER_MINUTE,
      signupPerHour: e.RATE_LIMIT_SIGNUP_PER_HOUR,
      userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE,
      abuseBlockAfterRejections: e.ABUSE_BLOCK_AFTER_REJECTIONS,
      abuseBlockSeconds: e.ABUSE_BLOCK_SECONDS,
      loginMaxFailures: e.LOGIN_MAX_FAILURES,
      loginAccountMaxFailuresPerHour: e.LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR,
      maxStreamsPerUser: e.MAX_STREAMS_PER_USER,
      maxStreamsTotal: e.MAX_STREAMS_TOTAL,
    },
    sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
    model: {
      provider: e.MODEL_PROVIDER,
      baseUrl: e.MODEL_BASE_URL,
      apiKey: e.MODEL_API_KEY ? new Secret(e.MODEL_API_KEY) : undefined,
      name: e.MODEL_NAME,
      timeoutMs: e.MODEL_TIMEOUT_MS,
      builtinDelayMs: e.BUILTIN_MODEL_DELAY_MS,
    },
    logLevel: e.LOG_LEVEL,
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    shutdown: { graceMs: e.SHUTDOWN_GRACE_MS, delayMs: e.SHUTDOWN_DELAY_MS ?? (production ? 5000 : 0) },
    gitSha: e.GIT_SHA,
    threadPoolSize: e.UV_THREADPOOL_SIZE,
  };
  return { config: deepFreeze(config), warnings };
}
