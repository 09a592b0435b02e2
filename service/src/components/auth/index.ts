/**
 * The auth component's entry point: with ./public.ts (its plain functions), the only module other
 * components, the composition root and the benches may import from components/auth (npm run lint
 * enforces it). `createAuthComponent` builds every piece of the component — repos, hasher, tokens,
 * keyring reloader, lockout, per-IP and per-user limits, routes — from platform pieces it is given.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import compose from 'koa-compose';
import type { Config } from '../../config/load.js';
import type { AbuseBreaker } from '../../platform/abuse-breaker.js';
import type { SchedulingClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { limitRequests, limitRequestsTogether } from '../../platform/http/rate-limit.js';
import { limitKeyOf } from '../../platform/limit-key.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { LimiterFactory } from '../../platform/rate-limit.js';
import { createDeferredWork } from '../../platform/deferred-work.js';
import { createOneTimeStore } from '../../platform/one-time-store.js';
import { parseMfaKeyring } from '../../platform/mfa-keyring.js';
import { createMfaRepo } from './mfa/mfa-repo.js';
import { requireSecondFactorPolicy } from './mfa/mfa-policy.js';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../audit/index.js';
import { hashEmail } from '../audit/index.js';
import type { MailOutbox } from '../mail/index.js';
import { createAccountTokensRepo } from './account-tokens.js';
import { createDeviceTokensRepo } from './device-tokens.js';
import { type AccessTokens, createAccessTokens } from './access-tokens.js';
import { authenticate as verifyBearer } from './authenticate.js';
import { type Keyring, keyringFromDocument, keyringFromSecret } from './keyring.js';
import { createKeyringReloader, type ReloadOutcome, type ReloadTrigger } from './keyring-reloader.js';
import { createLoginLockout } from './lockout.js';
import { createPasswordChecker, MAX_PASSWORD_CODE_POINTS } from './password-policy.js';
import { createPasswordHasher, type PasswordHasher } from './passwords.js';
import { requireRecentAuthentication } from './recent-auth.js';
import { authRoutes } from './routes.js';
import { type AuthService, createAuthService } from './service.js';
import { createSessionGuard } from './session-guard.js';
import { createSessionsRepo } from './sessions-repo.js';
import { createUsersRepo } from './users-repo.js';
import { createPasskeysRepo } from './webauthn/credentials-repo.js';

export * from './public.js';
export type { AccessTokens, Clock } from './access-tokens.js';
export type { ReloadOutcome, ReloadTrigger } from './keyring-reloader.js';
export type { PasswordHasher } from './passwords.js';
export type { AuthContext, AuthService, RequestMeta } from './service.js';

export type AuthLimit = 'auth' | 'authAndLogin' | 'refresh' | 'signup' | 'mail';

export interface AuthComponent {
  readonly service: AuthService;
  /** The /v1/auth/*, /v1/me and JWKS routes. */
  readonly routes: Router;
  /** Guards authenticated routes: a valid token of an active session, then the per-user limit. */
  readonly authenticate: Middleware;
  /** After `authenticate`, for sensitive operations: an auth_time within REAUTH_MAX_AGE_SECONDS, else 401 `reauthentication_required`. */
  readonly requireRecentAuth: Middleware;
  /** Resolves once the work mail-sending requests started after their 202 has settled (tests, shutdown). */
  settled(): Promise<void>;
  /** Per-IP limiters of the auth routes (exposed for tests and benches). */
  readonly limits: Record<AuthLimit, Middleware>;
  /** The JWT keyring in force (swapped on reload; callers always ask for the current one). */
  readonly keyring: () => Keyring;
  /** Re-reads the keyring now (SIGHUP); a no-op without a keyring source. */
  reloadKeyring(trigger?: ReloadTrigger): Promise<ReloadOutcome | undefined>;
  readonly accessTokens: AccessTokens;
  readonly hasher: PasswordHasher;
  close(): Promise<void>;
}

export interface AuthComponentDeps {
  config: Config;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  clock: SchedulingClock;
  limiterFactory: LimiterFactory;
  breaker: AbuseBreaker;
  audit: AuditLog;
  mail: MailOutbox;
  /** Single-use values shared by every replica (MFA tokens, WebAuthn challenges); memory without it. */
  redis?: Redis;
  /**
   * Reads the keyring's source afresh (main.ts: JWT_KEYS/JWT_SECRET through *_REF, *_FILE); given, the
   * keyring is re-read every JWT_KEYS_RELOAD_INTERVAL_SECONDS and on `reloadKeyring()` (SIGHUP).
   */
  keyringSource?: () => Promise<Keyring>;
}

export async function createAuthComponent(deps: AuthComponentDeps): Promise<AuthComponent> {
  const { config, db, logger, metrics, clock, limiterFactory, breaker, audit } = deps;
  const initialKeyring = config.jwt.keys
    ? await keyringFromDocument(config.jwt.keys.reveal())
    : await keyringFromSecret(config.jwt.secret?.reveal() as Uint8Array);
  const reloader = deps.keyringSource
    ? createKeyringReloader({
        initial: initialKeyring,
        load: deps.keyringSource,
        intervalMs: config.jwt.reloadIntervalMs,
        logger,
        metrics,
        clock,
      })
    : undefined;
  const keyring = reloader ? reloader.current : () => initialKeyring;
  const hasher = createPasswordHasher({
    policy: config.argon2,
    maxConcurrent: config.argon2.maxConcurrent,
    maxQueue: config.argon2.maxQueue,
    queueTimeoutMs: 10_000,
    threadNice: config.argon2.threadNice,
    // Logged once: hashing still works, but a login flood then competes with the event loop as equals.
    onPriorityError: (reason) =>
      logger.warn({ reason, nice: config.argon2.threadNice }, 'password-hashing threads could not lower their priority; they run at the event loop’s'),
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

  const byIp = (ctx: Context) => ctx.state.clientKey as string; // IPv6: its /64 (RATE_LIMIT_IPV6_PREFIX, platform/limit-key.ts)
  const perIpBucket = (name: string, points: number, windowSeconds: number) => ({ limiter: limiterFactory({ name, points, windowSeconds }), key: byIp, metrics, breaker });
  const perIp = (name: string, points: number, windowSeconds: number) => limitRequests(perIpBucket(name, points, windowSeconds));
  const authBucket = perIpBucket('auth', config.limits.authPerMinute, 60);
  const loginBucket = perIpBucket('login', config.limits.loginPerMinute, 60);
  const limits: Record<AuthLimit, Middleware> = {
    auth: limitRequests(authBucket),
    // Every route that checks a password or a second factor spends both, in one Redis round trip.
    authAndLogin: limitRequestsTogether([authBucket, loginBucket]),
    refresh: perIp('refresh', config.limits.refreshPerMinute, 60),
    signup: perIp('signup', config.limits.signupPerHour, 3600),
    mail: perIp('mail', config.mail.perIpPerHour, 3600),
  };
  const perUser = limitRequests({
    limiter: limiterFactory({ name: 'user', points: config.limits.userPerMinute, windowSeconds: 60, lease: true }),
    key: (ctx) => (ctx.state.auth as { userId: string } | undefined)?.userId,
    metrics,
    breaker,
  });
  const lockout = createLoginLockout({
    factory: limiterFactory,
    maxFailures: config.limits.loginMaxFailures,
    accountMaxFailuresPerHour: config.limits.loginAccountMaxFailuresPerHour,
    keyOfIp: (ip) => limitKeyOf(ip, config.limits.ipv6Prefix),
  });
  // MFA tokens and WebAuthn challenges: taken once, on whichever replica the next step lands.
  const oneTime = createOneTimeStore({ redis: deps.redis, keyPrefix: config.redisKeyPrefix, now: () => clock.now().getTime() });
  const mfaKeyring = parseMfaKeyring(config.mfa.encryptionKey.reveal());
  // The second factor's own lockout: wrong codes per device, per (account, address), and per account per hour.
  const mfaLockout = createLoginLockout({
    name: 'mfa',
    factory: limiterFactory,
    maxFailures: config.limits.loginMaxFailures,
    accountMaxFailuresPerHour: config.mfa.accountMaxFailuresPerHour,
    keyOfIp: (ip) => limitKeyOf(ip, config.limits.ipv6Prefix),
  });
  const deferred = createDeferredWork({ logger, onFailure: (label) => metrics.mailSuppressedTotal.inc({ template: label, reason: 'failed' }) });
  const emailHashKey = config.audit.hashKey.reveal();
  const service = createAuthService({
    knex: db.knex,
    users: createUsersRepo(db.knex),
    sessions,
    hasher,
    checkPassword: createPasswordChecker({ minLength: config.passwordMinLength, maxLength: MAX_PASSWORD_CODE_POINTS }),
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
    sessionMaxAgeSeconds: config.jwt.sessionMaxAgeSeconds,
    maxSessionsPerUser: config.jwt.maxSessionsPerUser,
    accountTokens: createAccountTokensRepo(db.knex),
    devices: createDeviceTokensRepo(db.knex),
    mail: deps.mail,
    mailLimiter: limiterFactory({ name: 'mail_address', points: config.mail.perAddressPerHour, windowSeconds: 3600 }),
    emailKey: (email) => hashEmail(email, emailHashKey),
    deferred,
    accounts: config.accounts,
    mfa: { repo: createMfaRepo(db.knex), keyring: () => mfaKeyring, oneTime, lockout: mfaLockout, issuer: config.mfa.webauthn.rpName },
    oneTime,
    webauthn: config.mfa.webauthn,
    passkeys: createPasskeysRepo(db.knex),
  });
  const requireRecentAuth = requireRecentAuthentication(clock, config.accounts.reauthMaxAgeSeconds);
  // A presented token that is refused is a security event (aggregated per IP and reason in the trail).
  const tokenRefused = async (ctx: Context, reason: 'invalid' | 'revoked') => {
    metrics.authFailTotal.inc({ flow: 'access_token', reason });
    await audit.record({
      type: 'access_token_refused',
      ip: ctx.state.clientIp ?? null,
      requestId: ctx.state.requestId ?? null,
      clientRequestId: ctx.state.clientRequestId ?? null,
      details: { reason },
    });
  };
  const authenticate = compose([verifyBearer(accessTokens, guard, tokenRefused), requireSecondFactorPolicy(config.mfa.required), perUser]);
  return {
    service,
    routes: authRoutes({ service, authenticate, requireRecentAuth, keyring, limits, emailVerification: config.accounts.emailVerification }),
    authenticate,
    requireRecentAuth,
    settled: () => deferred.drain(),
    limits,
    keyring,
    reloadKeyring: async (trigger) => reloader?.reload(trigger),
    accessTokens,
    hasher,
    async close() {
      reloader?.stop();
      // Mail-sending requests already answered 202: their work finishes before the outbox closes.
      await deferred.drain();
      // After the listener has drained (lifecycle/shutdown): no request is waiting on a hash any more.
      await hasher.close();
    },
  };
}
