import { parseHostList } from '../platform/pg-hosts.js';
import { PLAINTEXT_HOPS, type PlaintextHop, parseAllowPlaintext } from '../platform/plaintext-hops.js';
import { developmentMfaKey, parseMfaKeyring } from '../platform/mfa-keyring.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { ARGON2_OWASP_MINIMUM, decodeJwtSecret, type Env, JWT_SECRET_BYTES, envSchema, pickSource, SETTINGS, type SettingName, settingsWithSource, valueOfSource } from './settings.js';
import { Secret } from './secret.js';

/** Where cpuBudget reads from; tests inject both. */
export interface CpuBudgetSources {
  parallelism?: () => number;
  readFile?: (path: string) => string;
}

const CGROUP_V2_CPU_MAX = '/sys/fs/cgroup/cpu.max';
const CGROUP_V1_DIRS = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'];

/** CPUs granted by a cgroup quota, or undefined when there is none (or it cannot be read). */
export function cgroupCpuQuota(readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  const cores = (quota: number, period: number) =>
    Number.isFinite(quota) && Number.isFinite(period) && quota > 0 && period > 0 ? Math.max(1, Math.floor(quota / period)) : undefined;
  try {
    const [quota, period] = readFile(CGROUP_V2_CPU_MAX).trim().split(/\s+/);
    // "max 100000": no limit at this level.
    return quota === 'max' ? undefined : cores(Number(quota), Number(period));
  } catch {
    // not cgroup v2 (or not readable): try v1
  }
  for (const dir of CGROUP_V1_DIRS) {
    try {
      // -1: no limit.
      return cores(Number(readFile(`${dir}/cpu.cfs_quota_us`).trim()), Number(readFile(`${dir}/cpu.cfs_period_us`).trim()));
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * The CPUs this process may use: os.availableParallelism() — the affinity mask and, since libuv 1.49
 * (Node 26.12 bundles 1.52.1), the cgroup quota (src/unix/linux.c, uv__get_constrained_cpu; measured
 * here under a cgroup v2 cpu.max of 150000/100000 → 1, 50000/100000 → 1, 300000/100000 on 2 cores → 2)
 * — capped once more by the quota read here: the cgroup v2 /sys/fs/cgroup/cpu.max (what a container
 * sees of its own cgroup), else the cgroup v1 cpu.cfs_quota_us ÷ cpu.cfs_period_us. The second
 * reading is defensive: libuv skips a v1 hierarchy unless `cpu` is mounted as `cpu,cpuacct` (measured:
 * a 1-CPU v1 quota on a separate `cpu` mount left it at 2), and older Node versions read no quota. A fractional quota rounds down (1500m → 1), as libuv does, never
 * below 1: with more runnable threads than the quota, the whole cgroup is throttled, event loop
 * included, and a lower nice value cannot help against that.
 */
export function cpuBudget(sources: CpuBudgetSources = {}): number {
  const parallelism = (sources.parallelism ?? availableParallelism)();
  const quota = cgroupCpuQuota(sources.readFile);
  return Math.max(1, Math.min(parallelism, quota ?? parallelism));
}

/**
 * Password hashes running at once — and threads in the hashing pool — unless ARGON2_MAX_CONCURRENCY
 * says otherwise: one per CPU the process may use (cpuBudget). The hashing threads lower their own
 * priority (ARGON2_THREAD_NICE, components/auth/hash-pool.ts), so the event loop still gets a core
 * whenever it has work: a login flood takes idle CPU only. Until this round the default was one fewer
 * than the CPUs, at the event loop's priority, which left half of a 2-core machine idle in a flood
 * (docs/performance.md, "Logins at the machine's capacity").
 */
export function defaultHashConcurrency(cpus: number = cpuBudget()): number {
  return Math.max(1, Math.floor(cpus));
}

/** Thrown when the environment cannot give a safe configuration; one line per problem. */
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

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The value of a setting that may come from a file (settings.ts `valueOfSource`). NAME_REF was
 * resolved into NAME before (references.ts); one still here was never resolved.
 */
function readSourced(
  env: Record<string, string | undefined>,
  name: SettingName,
  readFile: (path: string) => string,
  problems: string[],
): string | undefined {
  const source = pickSource(env, name);
  if (source.kind !== 'ref') return valueOfSource(name, source, readFile, problems);
  problems.push(`${name}_REF is set but was not resolved (a secret store is needed to read it)`);
  return undefined;
}

const MIN_AUDIT_HASH_KEY_BYTES = 32;

function decodeAuditHashKey(text: string): { bytes: Uint8Array } | { problem: string } {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(text)) return { problem: 'AUDIT_HASH_KEY must be base64url' };
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (bytes.length < MIN_AUDIT_HASH_KEY_BYTES)
    return { problem: `AUDIT_HASH_KEY is too short: ${bytes.length} bytes decoded, at least ${MIN_AUDIT_HASH_KEY_BYTES} required (generate one with: npx secops secret generate)` };
  return { bytes };
}

/** MAIL_URL's shape (the value is never echoed: it may hold a password). */
function mailUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'MAIL_URL is not a URL';
  }
  if (!url.hostname) return 'MAIL_URL has no host';
  const tls = url.searchParams.get('tls');
  if (tls !== null && tls !== 'off') return 'MAIL_URL: the only tls= value is tls=off (plaintext, for a local relay)';
  if (url.protocol === 'smtps:' && tls === 'off') return 'MAIL_URL: smtps:// is TLS from the first byte; tls=off contradicts it';
  return undefined;
}

export { PLAINTEXT_HOPS, type PlaintextHop, parseAllowPlaintext } from '../platform/plaintext-hops.js';

/** The query parameter `name` of a connection string, URL or libpq keyword/value form alike. */
function connectionParameter(text: string, name: string): string | undefined {
  try {
    const value = new URL(text).searchParams.get(name);
    if (value !== null) return value;
  } catch {
    // keyword/value form: host=… sslmode=…
  }
  return new RegExp(`(?:^|[\\s?&])${name}\\s*=\\s*'?([A-Za-z-]+)`).exec(text)?.[1];
}

/**
 * Each hop of `e` that would carry data without (verified) TLS, with the reason (never the value: the
 * URLs may hold passwords). Production refuses these unless ALLOW_PLAINTEXT names the hop (issue 25,
 * ASVS 12.3.1/12.3.3/12.3.4).
 */
export function plaintextHops(
  e: Pick<Env, 'DATABASE_URL' | 'REDIS_URL' | 'MODEL_BASE_URL' | 'MODEL_FALLBACK_BASE_URL' | 'MAIL_URL' | 'VAULT_ADDR' | 'AWS_ENDPOINT_URL'>,
): { hop: PlaintextHop; problem: string }[] {
  const found: { hop: PlaintextHop; problem: string }[] = [];
  if (e.DATABASE_URL !== undefined && connectionParameter(e.DATABASE_URL, 'sslmode') !== 'verify-full')
    found.push({ hop: 'database', problem: 'DATABASE_URL does not ask for sslmode=verify-full (TLS with the server\'s certificate and name verified)' });
  if (e.REDIS_URL !== undefined && !/^rediss:\/\//i.test(e.REDIS_URL)) found.push({ hop: 'redis', problem: 'REDIS_URL is not a rediss:// (TLS) URL' });
  for (const name of ['MODEL_BASE_URL', 'MODEL_FALLBACK_BASE_URL'] as const) {
    const url = e[name];
    if (url !== undefined && !/^https:\/\//i.test(url)) found.push({ hop: 'model', problem: `${name} is not an https:// URL` });
  }
  if (e.MAIL_URL !== undefined && /^smtp:/i.test(e.MAIL_URL) && connectionParameter(e.MAIL_URL, 'tls') === 'off')
    found.push({ hop: 'mail', problem: 'MAIL_URL turns TLS off (tls=off)' });
  for (const name of ['VAULT_ADDR', 'AWS_ENDPOINT_URL'] as const) {
    const url = e[name];
    if (url !== undefined && !/^https:\/\//i.test(url)) found.push({ hop: 'secrets', problem: `${name} is not an https:// URL` });
  }
  return found;
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
  for (const key of Object.keys(SETTINGS)) {
    const v = rawEnv[key];
    if (v !== undefined && v !== '') env[key] = v;
  }
  for (const name of settingsWithSource('file')) env[name] = readSourced(rawEnv, name, readFile, problems);

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

  if (production)
    for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, { requiredInProduction?: boolean }][])
      if (spec.requiredInProduction && e[name] === undefined && !problems.some((p) => p.startsWith(name)))
        problems.push(`${name} is required in production`);
  // Node checks the headers deadline inside the request deadline: a longer one would never fire.
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS)
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');

  let secretBytes: Uint8Array | undefined;
  let ephemeral = false;
  if (e.JWT_KEYS !== undefined) {
    // The keyring document is checked in full (JSON, key types, sizes) when deps builds the keyring.
  } else if (e.JWT_SECRET !== undefined) {
    // The same rule as the keyring reload's (settings.ts decodeJwtSecret), in every environment: a
    // short secret that only warned here would crash the keyring a moment later.
    const decoded = decodeJwtSecret(e.JWT_SECRET);
    if ('problem' in decoded) problems.push(decoded.problem);
    else secretBytes = decoded.bytes;
  } else if (production) {
    // An unreadable or ambiguous secret was already reported; "required" would only repeat it.
    if (!problems.some((p) => p.startsWith('JWT_'))) {
      problems.push('JWT_SECRET (or JWT_SECRET_FILE, or JWT_KEYS) is required in production');
    }
  } else if (problems.length === 0) {
    secretBytes = new Uint8Array(randomBytes(JWT_SECRET_BYTES));
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
    threadNice: e.ARGON2_THREAD_NICE,
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

  let auditHashKey: Uint8Array | undefined;
  let auditHashKeyEphemeral = false;
  if (e.AUDIT_HASH_KEY !== undefined) {
    const decoded = decodeAuditHashKey(e.AUDIT_HASH_KEY);
    if ('problem' in decoded) problems.push(decoded.problem);
    else auditHashKey = decoded.bytes;
  } else if (!production) {
    auditHashKey = new Uint8Array(randomBytes(32));
    auditHashKeyEphemeral = true;
    warnings.push(
      'AUDIT_HASH_KEY is not set: audit-trail email hashes use an EPHEMERAL key for this process only, so they cannot be matched across restarts or replicas. Never run like this in production.',
    );
  }
  // TOTP secrets' keyring: checked here so a bad key refuses the start, not the first MFA login.
  let mfaKeyring = e.MFA_ENCRYPTION_KEY;
  if (mfaKeyring !== undefined) {
    try {
      parseMfaKeyring(mfaKeyring);
    } catch (err) {
      problems.push((err as Error).message);
    }
  } else if (!production) {
    mfaKeyring = developmentMfaKey();
    warnings.push(
      'MFA_ENCRYPTION_KEY is not set: TOTP secrets are encrypted with a FIXED development key anyone can derive. Never run like this in production.',
    );
  }
  let webauthnOrigins: string[] = [];
  try {
    webauthnOrigins = (e.WEBAUTHN_ORIGINS ?? new URL(e.APP_URL ?? 'http://localhost:5173').origin).split(',').map((o) => o.trim()).filter((o) => o.length > 0);
  } catch {
    problems.push('WEBAUTHN_ORIGINS: could not derive an origin from APP_URL');
  }
  if (e.DATABASE_URL !== undefined) {
    try {
      parseHostList(e.DATABASE_URL);
    } catch (err) {
      // The message names the parameter, never the URL (it holds the password).
      problems.push(`DATABASE_URL: ${(err as Error).message}`);
    }
  }
  if (e.MAIL_URL !== undefined) {
    const problem = mailUrlProblem(e.MAIL_URL);
    if (problem) problems.push(problem);
  } else if (!production) {
    warnings.push(`MAIL_URL is not set: mails are written to the log and to ${e.DATA_DIR}/mail/ instead of being sent (development only; production refuses to start without MAIL_URL).`);
  }

  if (e.MODEL_PROVIDER === 'openai') {
    if (!e.MODEL_BASE_URL) problems.push('MODEL_BASE_URL is required when MODEL_PROVIDER=openai');
    if (!e.MODEL_NAME) problems.push('MODEL_NAME is required when MODEL_PROVIDER=openai');
  }
  if (e.MODEL_FALLBACK_BASE_URL !== undefined && !e.MODEL_FALLBACK_NAME)
    problems.push('MODEL_FALLBACK_NAME is required when MODEL_FALLBACK_BASE_URL is set');
  if (e.MODEL_FALLBACK_BASE_URL === undefined && (e.MODEL_FALLBACK_NAME || e.MODEL_FALLBACK_API_KEY))
    problems.push('MODEL_FALLBACK_NAME / MODEL_FALLBACK_API_KEY are set but MODEL_FALLBACK_BASE_URL is not: no fallback would be used');

  // TLS on every hop: production refuses a plaintext hop the operator has not named in ALLOW_PLAINTEXT,
  // and says at every start which hops are allowed in plaintext.
  if (production) {
    const allowed = parseAllowPlaintext(e.ALLOW_PLAINTEXT);
    for (const { hop, problem } of plaintextHops(e))
      if (!allowed.has(hop)) problems.push(`${problem}; production requires TLS on this hop (or ALLOW_PLAINTEXT=${hop} to accept plaintext)`);
    // pushgateway is secops's hop (cli/src/lib/pushgateway-tls.ts); the service has none to warn about.
    for (const hop of PLAINTEXT_HOPS)
      if (allowed.has(hop) && hop !== 'pushgateway') warnings.push(`ALLOW_PLAINTEXT lists ${hop}: the ${hop} connection may carry data (and credentials) in plaintext. Use TLS on it and remove ${hop} from ALLOW_PLAINTEXT.`);
  }
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined))
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  else if (e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined)
    for (const [name, path] of [['TLS_CERT_FILE', e.TLS_CERT_FILE], ['TLS_KEY_FILE', e.TLS_KEY_FILE]] as const) {
      try {
        if (readFile(path).trim() === '') problems.push(`${name}: ${path} is empty`);
      } catch (err) {
        problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }

  // REDIS_CA_FILE: the only CA(s) a rediss:// server's certificate may chain to (ASVS 12.3.4).
  let redisCa: string | undefined;
  if (e.REDIS_CA_FILE !== undefined) {
    if (e.REDIS_URL === undefined || !/^rediss:\/\//i.test(e.REDIS_URL))
      problems.push('REDIS_CA_FILE is set but REDIS_URL is not a rediss:// URL: the CA would not be used');
    try {
      redisCa = readFile(e.REDIS_CA_FILE);
      if (!redisCa.includes('-----BEGIN CERTIFICATE-----')) problems.push(`REDIS_CA_FILE: ${e.REDIS_CA_FILE} holds no PEM certificate`);
    } catch (err) {
      problems.push(`REDIS_CA_FILE: cannot read ${e.REDIS_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }

  const trustedProxies = e.TRUSTED_PROXIES.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const cidr of trustedProxies) {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(cidr)) problems.push(`TRUSTED_PROXIES: "${cidr}" is not an IP address or CIDR`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const config = buildConfig(e, {
    trustedProxies,
    secretBytes,
    ephemeral,
    argon2,
    production,
    auditHashKey: auditHashKey as Uint8Array,
    auditHashKeyEphemeral,
    mfaKeyring: mfaKeyring as string,
    webauthnOrigins,
    redisCa,
  });
  return { config: deepFreeze(config), warnings };
}

/** The typed, grouped view of the settings every part of the service reads (its type is `Config`). */
function buildConfig(
  e: Env,
  derived: {
    trustedProxies: string[];
    secretBytes: Uint8Array | undefined;
    ephemeral: boolean;
    argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number; maxQueue: number; threadNice: number };
    production: boolean;
    auditHashKey: Uint8Array;
    auditHashKeyEphemeral: boolean;
    mfaKeyring: string;
    webauthnOrigins: string[];
    redisCa: string | undefined;
  },
) {
  const { trustedProxies, secretBytes, ephemeral, argon2, production } = derived;
  return {
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
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST },
    /** HTTPS for the API and metrics listeners (platform/http/tls.ts); undefined → plain HTTP. */
    tls:
      e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined
        ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE, reloadIntervalMs: e.TLS_RELOAD_INTERVAL_SECONDS * 1000 }
        : undefined,
    database: {
      /** undefined → embedded PGlite in `dataDir`. */
      url: e.DATABASE_URL ? new Secret(e.DATABASE_URL) : undefined,
      dataDir: e.DATA_DIR,
      poolMax: e.DB_POOL_MAX,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      migrateOnStart: e.MIGRATE_ON_START ?? !production,
      urlReloadIntervalMs: e.DATABASE_URL_RELOAD_INTERVAL_SECONDS * 1000,
    },
    redisUrl: e.REDIS_URL ? new Secret(e.REDIS_URL) : undefined,
    /** PEM of the CA(s) a rediss:// server must chain to, instead of the system store (REDIS_CA_FILE). */
    redisCa: derived.redisCa,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    jwt: {
      /** HS256 secret (from JWT_SECRET, or ephemeral); undefined when JWT_KEYS gives the keyring. */
      secret: secretBytes ? new Secret(secretBytes) : undefined,
      /** The JWT_KEYS document, validated by the keyring when it is built. */
      keys: e.JWT_KEYS ? new Secret(e.JWT_KEYS) : undefined,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      /** true when no secret was configured and a random one was generated for this process. */
      ephemeral,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
      /** Absolute session lifetime from login (s), whatever the refreshes. */
      sessionMaxAgeSeconds: e.SESSION_MAX_AGE_SECONDS,
      maxSessionsPerUser: e.MAX_SESSIONS_PER_USER,
      /** Keyring re-read interval (ms); 0: on SIGHUP only. */
      reloadIntervalMs: e.JWT_KEYS_RELOAD_INTERVAL_SECONDS * 1000,
    },
    argon2,
    limits: {
      globalPerMinute: e.RATE_LIMIT_GLOBAL_PER_MINUTE,
      authPerMinute: e.RATE_LIMIT_AUTH_PER_MINUTE,
      loginPerMinute: e.RATE_LIMIT_LOGIN_PER_MINUTE,
      refreshPerMinute: e.RATE_LIMIT_REFRESH_PER_MINUTE,
      signupPerHour: e.RATE_LIMIT_SIGNUP_PER_HOUR,
      /** IPv6 clients share every per-IP key by this prefix length (IPv4 keys by the full address). */
      ipv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
      userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE,
      /** Largest lease a leased bucket claims from Redis at once (platform/rate-limit.ts). */
      leaseMax: e.RATE_LIMIT_LEASE_MAX,
      abuseBlockAfterRejections: e.ABUSE_BLOCK_AFTER_REJECTIONS,
      abuseBlockSeconds: e.ABUSE_BLOCK_SECONDS,
      loginMaxFailures: e.LOGIN_MAX_FAILURES,
      loginAccountMaxFailuresPerHour: e.LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR,
      maxStreamsPerUser: e.MAX_STREAMS_PER_USER,
      maxStreamsTotal: e.MAX_STREAMS_TOTAL,
      maxModelCallsPerUser: e.MAX_MODEL_CALLS_PER_USER ?? e.MAX_STREAMS_PER_USER,
      maxModelCallsTotal: e.MAX_MODEL_CALLS_TOTAL,
      modelCallLeaseSeconds: e.MODEL_CALL_LEASE_SECONDS,
    },
    accounts: {
      /** `required`: signup answers 202 and login waits for a verified address. */
      emailVerification: e.EMAIL_VERIFICATION ?? (production ? 'required' : 'off'),
      /** Base of every link in a mail (the client application, never the API). */
      appUrl: (e.APP_URL ?? 'http://localhost:5173').replace(/\/+$/, ''),
      emailTokenTtlSeconds: e.EMAIL_TOKEN_TTL_SECONDS,
      passwordResetTtlSeconds: e.PASSWORD_RESET_TTL_SECONDS,
      reauthMaxAgeSeconds: e.REAUTH_MAX_AGE_SECONDS,
    },
    mail: {
      /** undefined → development: mails go to the log and to `devDir`. */
      url: e.MAIL_URL ? new Secret(e.MAIL_URL) : undefined,
      devDir: join(e.DATA_DIR, 'mail'),
      caFile: e.MAIL_CA_FILE,
      from: e.MAIL_FROM,
      maxAttempts: e.MAIL_MAX_ATTEMPTS,
      sentRetentionDays: e.MAIL_SENT_RETENTION_DAYS,
      perAddressPerHour: e.RATE_LIMIT_MAIL_PER_HOUR,
      perIpPerHour: e.RATE_LIMIT_MAIL_IP_PER_HOUR,
    },
    audit: {
      /** HMAC key of the audit trail's email hashes (and of mail rate-limit keys). */
      hashKey: new Secret(derived.auditHashKey),
      hashKeyEphemeral: derived.auditHashKeyEphemeral,
    },
    mfa: {
      /** MFA_ENCRYPTION_KEY as given (parsed by platform/mfa-keyring.ts). */
      encryptionKey: new Secret(derived.mfaKeyring),
      /** MFA_REQUIRED: tokens without `mfa` in amr reach enrolment only (auth/mfa/mfa-policy.ts). */
      required: e.MFA_REQUIRED,
      accountMaxFailuresPerHour: e.MFA_ACCOUNT_MAX_FAILURES_PER_HOUR,
      webauthn: { rpId: e.WEBAUTHN_RP_ID, rpName: e.WEBAUTHN_RP_NAME, origins: derived.webauthnOrigins },
    },
    sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
    passwordMinLength: e.PASSWORD_MIN_LENGTH,
    model: {
      provider: e.MODEL_PROVIDER,
      baseUrl: e.MODEL_BASE_URL,
      apiKey: e.MODEL_API_KEY ? new Secret(e.MODEL_API_KEY) : undefined,
      name: e.MODEL_NAME,
      timeoutMs: e.MODEL_TIMEOUT_MS,
      /** The second endpoint tried when the primary fails before its first token (models/fallback.ts). */
      fallback:
        e.MODEL_FALLBACK_BASE_URL === undefined
          ? undefined
          : {
              baseUrl: e.MODEL_FALLBACK_BASE_URL,
              apiKey: e.MODEL_FALLBACK_API_KEY ? new Secret(e.MODEL_FALLBACK_API_KEY) : undefined,
              name: e.MODEL_FALLBACK_NAME as string,
              timeoutMs: e.MODEL_FALLBACK_TIMEOUT_MS ?? e.MODEL_TIMEOUT_MS,
            },
      builtinDelayMs: e.BUILTIN_MODEL_DELAY_MS,
      maxOutputTokens: e.MODEL_MAX_OUTPUT_TOKENS,
      /** 0 = unlimited; per-user rows of model_budgets override them. */
      tokensPerDay: e.MODEL_TOKENS_PER_DAY,
      tokensPerMonth: e.MODEL_TOKENS_PER_MONTH,
    },
    /** Idempotency-Key answers are kept this long (s). */
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    /** Resumable replies: the generating replica's lease, and the sweep for replies whose replica died. */
    replies: {
      leaseSeconds: e.REPLY_LEASE_SECONDS,
      sweepIntervalSeconds: e.ORPHAN_SWEEP_INTERVAL_SECONDS,
      /** Finished replies' deltas older than this are purged (resuming them then gives `done` only). */
      eventsRetentionSeconds: e.REPLY_EVENTS_RETENTION_SECONDS,
    },
    logLevel: e.LOG_LEVEL,
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    shutdown: { graceMs: e.SHUTDOWN_GRACE_MS, delayMs: e.SHUTDOWN_DELAY_MS ?? (production ? 5000 : 0) },
    gitSha: e.GIT_SHA,
    /** libuv thread-pool size in force (undefined: libuv's default of 4). */
    threadPoolSize: e.UV_THREADPOOL_SIZE,
  };
}

type DeepReadonly<T> = T extends Secret<infer _> | Uint8Array
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** Everything the service reads from its environment, grouped and typed: derived from settings.ts. */
export type Config = DeepReadonly<ReturnType<typeof buildConfig>>;
