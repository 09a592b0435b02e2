import { createHash } from 'node:crypto';
import type { LimiterFactory, LimitState } from '../../platform/rate-limit.js';
import { rateLimitedError } from '../../platform/rate-limit.js';
import type { AppError } from '../../platform/errors.js';

export interface LockoutOptions {
  factory: LimiterFactory;
  /** Consecutive failures per (email, IP) before the first lock (LOGIN_MAX_FAILURES). */
  maxFailures: number;
  /** Failures per account per hour from all IPs (NIST SP 800-63B §5.2.2: at most 100). */
  accountMaxFailuresPerHour: number;
  /** First lock 1 s, doubled by each further failure, at most this long. */
  maxLockSeconds?: number;
  /** What an IP counts as (platform/limit-key.ts: an IPv6 client's /64); default: the address as is. */
  keyOfIp?: (ip: string) => string;
  /** Names its counters (`<name>-failures` …): the second factor has a lockout of its own. Default `login`. */
  name?: string;
}

/** Which limiter refused a locked-out attempt (the audit trail and metrics; never told to the client). */
export type LockoutLimiter = 'device' | 'address' | 'account';

export interface LockedOut {
  limiter: LockoutLimiter;
  error: AppError;
}

/**
 * What the counters of an unknown device's attempt held when read (`read`): the (email, IP) pair's
 * lock and consecutive failures, and the account's failures this hour. Read before the account is
 * looked up, it leaves in the same Redis write as the request's rate-limit buckets (auth/routes.ts).
 */
export type LockoutReading = Promise<{ lock: LimitState | undefined; failed: LimitState | undefined; perAccount: LimitState | undefined }>;

/** An attempt judged by `begin`: the lock that refuses it, if any, and what to do when it succeeds. */
export interface LoginAttempt {
  locked: LockedOut | undefined;
  /** Clears the failures and lock counted against this attempt's key (no round trip when there are none). */
  succeeded(): Promise<void>;
}

export interface FailureOutcome {
  /** This failure started a lock (for the audit trail: "lockout start"). */
  lockStarted: boolean;
  lockSeconds: number;
}

const DAY = 86_400;

/**
 * Login lockout as docs/api.md's LOGIN_MAX_FAILURES describes. Keyed by (normalized email, IP), so an
 * attacker elsewhere cannot lock a victim out; after `maxFailures` consecutive failures each further
 * failure locks for 1 s, 2 s, 4 s… up to 15 min; a success resets; while locked even the right
 * password is refused, and attempts while locked are not counted. A separate per-account cap
 * (failures from all IPs per hour) slows distributed guessing. The same 429 whether or not the
 * account exists — the key is the address typed, not a user id. Counters live in Redis when
 * configured, so every replica sees one lock.
 */
export function createLoginLockout(options: LockoutOptions) {
  const maxLock = options.maxLockSeconds ?? 900;
  // A counter, not a limit: consecutive failures (reset by a success), counted over a day from the first one.
  const name = options.name ?? 'login';
  const failures = options.factory({ name: `${name}-failures`, points: 1_000_000, windowSeconds: DAY });
  const locks = options.factory({ name: `${name}-lockout`, points: 1, windowSeconds: maxLock });
  const account = options.factory({
    name: `${name}-account`,
    points: options.accountMaxFailuresPerHour,
    windowSeconds: 3600,
  });
  // Emails are hashed into keys so Redis never holds addresses.
  const pairKey = (email: string, ip: string) => `${digest(email)}:${options.keyOfIp?.(ip) ?? ip}`;

  function tooManyAttempts(state: LimitState): AppError {
    return rateLimitedError(
      { ...state, name: 'login-lockout', limit: options.maxFailures },
      'too_many_attempts',
      'Too many failed login attempts; wait before trying again.',
    );
  }

  // An attempt from a known device (a valid device token of the account) is judged by that device's
  // own backoff only: neither the (email, IP) lock nor the per-account cap applies to it, so nothing an
  // attacker does elsewhere — from any number of addresses — locks the owner's devices out (OWASP's
  // device-cookie scheme). Every other attempt is an unknown device: the (email, IP) backoff and the cap.
  const deviceKey = (deviceId: string) => `device:${deviceId}`;

  /** Consecutive failures under `key`: after `maxFailures`, each further one locks 1 s, 2 s, 4 s… */
  async function countFailure(key: string): Promise<{ n: number; lockSeconds: number }> {
    const { state } = await failures.consume(key);
    const n = state.consumed;
    if (n < options.maxFailures) return { n, lockSeconds: 0 };
    const lockSeconds = Math.min(maxLock, 2 ** (n - options.maxFailures));
    await locks.block(key, lockSeconds);
    return { n, lockSeconds };
  }

  /** Clears the consecutive failures and any lock under `key` (a success). */
  async function clear(key: string): Promise<void> {
    await Promise.all([failures.reset(key), locks.reset(key)]);
  }

  /**
   * The lock in force for this attempt, if any (429 `too_many_attempts`, and which limiter refused),
   * and what a success must clear. Every counter it reads is peeked in the same tick, so they leave
   * in one Redis round trip (platform/rate-limit.ts); `reading`, when given, is that of an unknown
   * device's counters, started earlier by `read` (ignored for a known device). When the key holds no
   * failures and no lock, a success clears nothing and costs no round trip: a failure recorded
   * concurrently, after this read, stays counted — as it would had it arrived just after the success.
   */
  async function begin(email: string, ip: string, deviceId?: string, reading?: LockoutReading): Promise<LoginAttempt> {
    const key = deviceId ? deviceKey(deviceId) : pairKey(email, ip);
    // A known device: its own counters (the cap does not apply). Else the pair's and the account's,
    // read already when the caller started the reading before looking the account up.
    const { lock, failed, perAccount } = deviceId
      ? await Promise.all([locks.peek(key), failures.peek(key)]).then(([lock, failed]) => ({ lock, failed, perAccount: undefined }))
      : await (reading ?? read(email, ip));
    const succeeded = lock || failed ? () => clear(key) : async () => undefined;
    if (lock?.exceeded) return { locked: { limiter: deviceId ? 'device' : 'address', error: tooManyAttempts(lock) }, succeeded };
    // The cap counts failures from unknown devices: once it is reached, no further guess from one is judged this hour.
    if (perAccount && perAccount.consumed >= options.accountMaxFailuresPerHour) {
      return { locked: { limiter: 'account', error: tooManyAttempts(perAccount) }, succeeded };
    }
    return { locked: undefined, succeeded };
  }

  /**
   * Reads an unknown device's counters for `begin` (every peek in the same tick: one Redis write, and
   * with whatever else the caller issues in that tick). A rejection is left to whoever awaits it: a
   * reading nobody awaits (the request was refused first) never becomes an unhandled rejection.
   */
  function read(email: string, ip: string): LockoutReading {
    const key = pairKey(email, ip);
    const reading = Promise.all([locks.peek(key), failures.peek(key), account.peek(digest(email))]).then(([lock, failed, perAccount]) => ({ lock, failed, perAccount }));
    reading.catch(() => undefined);
    return reading;
  }

  return {
    read,
    begin,
    /** The lock in force for this attempt, if any: 429 `too_many_attempts`, and which limiter refused. */
    async check(email: string, ip: string, deviceId?: string): Promise<LockedOut | undefined> {
      return (await begin(email, ip, deviceId)).locked;
    },
    /** Throws 429 `too_many_attempts` while a lock applies (`check` for callers that do not audit the limiter). */
    async assertNotLocked(email: string, ip: string, deviceId?: string): Promise<void> {
      const locked = await this.check(email, ip, deviceId);
      if (locked) throw locked.error;
    },
    async recordFailure(email: string, ip: string, deviceId?: string): Promise<FailureOutcome> {
      if (deviceId) {
        const { n, lockSeconds } = await countFailure(deviceKey(deviceId));
        return { lockStarted: n === options.maxFailures, lockSeconds };
      }
      const [{ n, lockSeconds }, accountResult] = await Promise.all([countFailure(pairKey(email, ip)), account.consume(digest(email))]);
      const accountLockStarted = accountResult.state.consumed === options.accountMaxFailuresPerHour;
      return { lockStarted: n === options.maxFailures || accountLockStarted, lockSeconds };
    },
    async recordSuccess(email: string, ip: string, deviceId?: string): Promise<void> {
      await clear(deviceId ? deviceKey(deviceId) : pairKey(email, ip));
    },
  };
}

export type LoginLockout = ReturnType<typeof createLoginLockout>;

function digest(email: string): string {
  return createHash('sha256').update(email, 'utf8').digest('base64url').slice(0, 32);
}
