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
  const failures = options.factory({ name: 'login-failures', points: 1_000_000, windowSeconds: DAY });
  const locks = options.factory({ name: 'login-lockout', points: 1, windowSeconds: maxLock });
  const account = options.factory({
    name: 'login-account',
    points: options.accountMaxFailuresPerHour,
    windowSeconds: 3600,
  });
  // Emails are hashed into keys so Redis never holds addresses.
  const pairKey = (email: string, ip: string) => `${digest(email)}:${ip}`;

  function tooManyAttempts(state: LimitState): AppError {
    return rateLimitedError(
      { ...state, name: 'login-lockout', limit: options.maxFailures },
      'too_many_attempts',
      'Too many failed login attempts; wait before trying again.',
    );
  }

  return {
    /** Throws 429 `too_many_attempts` while the (email, IP) pair or the account is locked. */
    async assertNotLocked(email: string, ip: string): Promise<void> {
      const [lock, perAccount] = await Promise.all([locks.peek(pairKey(email, ip)), account.peek(digest(email))]);
      if (lock?.exceeded) throw tooManyAttempts(lock);
      // The cap counts failures: once it is reached, no further guess is judged this hour.
      if (perAccount && perAccount.consumed >= options.accountMaxFailuresPerHour) throw tooManyAttempts(perAccount);
    },
    async recordFailure(email: string, ip: string): Promise<FailureOutcome> {
      const key = pairKey(email, ip);
      const [{ state }, accountResult] = await Promise.all([failures.consume(key), account.consume(digest(email))]);
      const n = state.consumed;
      const accountLockStarted = accountResult.state.consumed === options.accountMaxFailuresPerHour;
      if (n < options.maxFailures) return { lockStarted: accountLockStarted, lockSeconds: 0 };
      const lockSeconds = Math.min(maxLock, 2 ** (n - options.maxFailures));
      await locks.block(key, lockSeconds);
      return { lockStarted: n === options.maxFailures || accountLockStarted, lockSeconds };
    },
    async recordSuccess(email: string, ip: string): Promise<void> {
      const key = pairKey(email, ip);
      await Promise.all([failures.reset(key), locks.reset(key)]);
    },
  };
}

export type LoginLockout = ReturnType<typeof createLoginLockout>;

function digest(email: string): string {
  return createHash('sha256').update(email, 'utf8').digest('base64url').slice(0, 32);
}
