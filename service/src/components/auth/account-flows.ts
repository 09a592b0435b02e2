import { AppError } from '../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import { normalizeEmail } from './email.js';
import { codePoints } from '../../platform/text.js';
import { invalidCredentials, } from './auth-errors.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { SessionOpening } from './session-opening.js';
import { MAX_PASSWORD_CODE_POINTS } from './password-policy.js';
import { normalizePassword } from './password-policy.js';
import { UnsupportedHashError } from './passwords.js';
import { hashDeviceToken, looksLikeDeviceToken } from './device-tokens.js';
import { passwordChangedMail } from './mail-templates.js';
import { generateRefreshToken, hashRefreshToken } from './refresh-tokens.js';
import { type AccountView, toAccountView, toPublicUser, type UserRow } from './users-repo.js';
import type { VerificationSent } from './verification-flows.js';
import type { NewCredentials } from './new-credentials.js';
import type { MfaFlows, MfaRequired, SecondFactorInput } from './mfa/mfa-flows.js';
import type { LockoutReading } from './lockout.js';


/** The lockout is keyed by the address as typed (normalized when valid), whether or not it exists. */
function lockEmailOf(typed: string, email = normalizeEmail(typed)): string {
  return email.ok ? email.email : typed.trim().toLowerCase().slice(0, 320);
}

/** Account flows: signup, login, password change, the caller's own account. */
export function createAccountFlows(
  deps: AuthServiceDeps,
  outcomes: FlowOutcomes,
  opening: SessionOpening,
  credentials: NewCredentials,
  verification: {
    signupWithVerification(input: { email: string; password: string }, meta: RequestMeta): Promise<VerificationSent>;
    mayMailVerification(email: string, meta: RequestMeta): Promise<boolean>;
    sendVerification(trx: AuthServiceDeps['knex'], userId: string, email: string, meta: RequestMeta): Promise<void>;
  },
  mfa: MfaFlows,
) {
  const { knex, users, sessions, hasher, guard, lockout, accountTokens, mail, clock, accounts, devices } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const { openSession, tokenResponse } = opening;

  /**
   * The signed-in user's password, checked like a login's: locked out after LOGIN_MAX_FAILURES (per
   * address and IP, and per account), every failure counted and audited, 401 `invalid_credentials`.
   */
  async function proveCurrentPassword(user: UserRow, password: string, flow: string, meta: RequestMeta, deviceToken?: string): Promise<void> {
    // The same lockout as a login, per device too: a known device is judged by its own backoff.
    const deviceId = looksLikeDeviceToken(deviceToken) ? await devices.recognise(user.id, deviceToken, clock.now()) : undefined;
    const { locked, succeeded } = await lockout.begin(user.email, meta.ip, deviceId);
    if (locked) {
      fail(flow, `locked_out_${locked.limiter}`);
      await auditEvent(meta, { type: 'login_refused_locked', userId: user.id, email: user.email, details: { limiter: locked.limiter, flow, known_device: deviceId !== undefined } });
      throw locked.error;
    }
    let valid = false;
    try {
      const current = normalizePassword(password);
      valid = codePoints(current) <= MAX_PASSWORD_CODE_POINTS && (await hasher.verify(user.password_hash, current));
    } catch (err) {
      if (!(err instanceof UnsupportedHashError)) throw err;
    }
    if (valid) {
      await succeeded();
      return;
    }
    fail(flow, 'wrong_password');
    await auditEvent(meta, { type: flow === 'reauthenticate' ? 'reauthentication_failed' : 'login_failed', userId: user.id, email: user.email, details: { reason: 'wrong_password', flow } });
    const outcome = await lockout.recordFailure(user.email, meta.ip, deviceId);
    if (outcome.lockStarted) {
      await auditEvent(meta, { type: 'login_locked_out', userId: user.id, email: user.email, details: { lock_seconds: outcome.lockSeconds, flow, known_device: deviceId !== undefined } });
    }
    throw invalidCredentials();
  }

  /** A fresh pair for the caller's own session, proving `amr` now (its other refresh tokens count as rotated). */
  async function renewSession(trx: typeof knex, user: UserRow, sessionId: string, amr: readonly string[]): Promise<{ refreshToken: string; authTime: Date } | undefined> {
    const now = clock.now();
    const openedAt = await sessions.reauthenticate(trx, sessionId, user.id, now, amr);
    if (!openedAt) return undefined;
    const refreshToken = generateRefreshToken();
    await sessions.insertRefreshToken(trx, { sessionId, hash: hashRefreshToken(refreshToken), parentId: null, expiresAt: opening.refreshExpiry(openedAt) });
    return { refreshToken, authTime: now };
  }

  return {
    async signup(input: { email: string; password: string }, meta: RequestMeta): Promise<TokenResponse | VerificationSent> {
      if (accounts.emailVerification === 'required') return verification.signupWithVerification(input, meta);
      const accepted = await credentials.acceptSignup(input, meta);
      const email = { email: accepted.email };
      const { passwordHash } = accepted;
      // Verification is optional here, but the link is still sent: the owner can prove the address
      // (email_verified) whenever they like, and development shows the whole flow (docs/api.md).
      const mailAllowed = await verification.mayMailVerification(email.email, meta);
      const created = await knex.transaction(async (trx) => {
        const user = await users.insert(email.email, passwordHash, trx);
        if (!user) return undefined;
        const session = await openSession(user.id, passwordHash, meta, trx);
        // The row was inserted by this transaction with this hash: nothing else can have changed it.
        if (!session) throw new Error('signup: the account just created does not hold its password hash');
        if (mailAllowed) await verification.sendVerification(trx, user.id, email.email, meta);
        return { user, ...session, deviceToken: await devices.issue(user.id, clock.now(), trx) };
      });
      if (created && mailAllowed) mail.wake();
      if (!created) {
        fail('signup', 'email_taken');
        await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'email_taken' } });
        throw new AppError('email_taken', { detail: 'An account with this email already exists.' });
      }
      succeed('signup');
      await auditEvent(meta, {
        type: 'signup_succeeded',
        userId: created.user.id,
        email: email.email,
        details: { session_id: created.sessionId },
      });
      return { ...(await tokenResponse(toPublicUser(created.user), created.sessionId, created.refreshToken, created.authentication)), device_token: created.deviceToken };
    },

    /**
     * The lockout counters a login without a device token is judged by, read before anything else:
     * the route starts this in the tick it spends the per-IP buckets, so both leave in one Redis write
     * (auth/routes.ts). A login that presents a device token reads its counters after the account
     * lookup says whose device it is — the device's own, or the pair's when it is not one of the
     * account's — so a valid and an invalid token cost the same round trips.
     */
    readLoginLockout(input: { email: string; device_token?: string }, meta: RequestMeta): LockoutReading | undefined {
      if (looksLikeDeviceToken(input.device_token)) return undefined;
      return lockout.read(lockEmailOf(input.email), meta.ip);
    },

    async login(input: { email: string; password: string; device_token?: string }, meta: RequestMeta, reading?: LockoutReading): Promise<TokenResponse | MfaRequired> {
      const email = normalizeEmail(input.email);
      const lockEmail = lockEmailOf(input.email, email);
      // The account and, when the client presents a device token, whether it is one of this account's
      // devices (then judged by its own backoff only: lockout.ts) — one round trip.
      const device = looksLikeDeviceToken(input.device_token) ? { hash: hashDeviceToken(input.device_token), now: clock.now() } : undefined;
      const found = email.ok ? await users.findForLogin(email.email, device) : undefined;
      const user = found?.user;
      const deviceId = found?.deviceId;
      const { locked, succeeded } = await lockout.begin(lockEmail, meta.ip, deviceId, reading);
      if (locked) {
        fail('login', `locked_out_${locked.limiter}`);
        await auditEvent(meta, {
          type: 'login_refused_locked',
          userId: user?.id ?? null,
          email: email.ok ? email.email : null,
          details: { limiter: locked.limiter, known_device: deviceId !== undefined },
        });
        throw locked.error;
      }
      const loginFailed = async (reason: string, userId?: string) => {
        // The metric carries the answer the client got (401 invalid_credentials), never whether the
        // account exists: anyone who can read /metrics could otherwise test addresses (issue 26). The
        // audit row below, which only operators read, keeps the precise reason.
        fail('login', 'invalid_credentials');
        await auditEvent(meta, {
          type: 'login_failed',
          userId: userId ?? null,
          email: email.ok ? email.email : null,
          details: { reason },
        });
        const outcome = await lockout.recordFailure(lockEmail, meta.ip, deviceId);
        if (outcome.lockStarted) {
          await auditEvent(meta, {
            type: 'login_locked_out',
            userId: userId ?? null,
            email: email.ok ? email.email : null,
            details: { lock_seconds: outcome.lockSeconds, known_device: deviceId !== undefined },
          });
        }
        return invalidCredentials();
      };
      const password = normalizePassword(input.password);
      if (!user || codePoints(password) > MAX_PASSWORD_CODE_POINTS) {
        // Same work as a real verify, so the answer's timing does not tell whether the account exists.
        await hasher.verifyDummy(password);
        throw await loginFailed(user ? 'wrong_password' : email.ok ? 'unknown_email' : 'invalid_email', user?.id);
      }
      let valid: boolean;
      try {
        valid = await hasher.verify(user.password_hash, password);
      } catch (err) {
        if (!(err instanceof UnsupportedHashError)) throw err;
        deps.logger.error({ user_id: user.id, err: err.message }, 'stored password hash refused; account cannot log in');
        throw await loginFailed('unsupported_hash', user.id);
      }
      if (!valid) throw await loginFailed('wrong_password', user.id);
      await succeeded();
      // Only now, with the password checked: a disabled account or an unverified address is not revealed to a guesser.
      if (user.disabled_at !== null) {
        fail('login', 'account_disabled');
        await auditEvent(meta, { type: 'login_failed', userId: user.id, email: user.email, details: { reason: 'account_disabled' } });
        throw new AppError('account_disabled', { detail: 'This account is disabled. Contact support.' });
      }
      if (accounts.emailVerification === 'required' && user.email_verified_at === null) {
        fail('login', 'email_not_verified');
        await auditEvent(meta, { type: 'login_failed', userId: user.id, email: user.email, details: { reason: 'email_not_verified' } });
        throw new AppError('email_not_verified', {
          detail: 'Confirm your email address first: follow the link we sent, or ask for a new one (POST /v1/auth/verify-email/resend).',
        });
      }

      let verifiedHash = user.password_hash;
      if (hasher.needsRehash(user.password_hash)) {
        const upgraded = await hasher.hash(password);
        // Compare-and-swap: a concurrent password change wins over the upgrade.
        if (await users.replacePasswordHash(user.id, user.password_hash, upgraded)) {
          verifiedHash = upgraded;
          await auditEvent(meta, { type: 'password_rehashed', userId: user.id, email: user.email });
        }
      }
      // One round trip writes the login (session-opening.ts openPasswordLogin): the session opens only
      // while the password just verified is still the account's — a password change that committed
      // during the verify refuses this login; one that commits after sees (and revokes) the new
      // session (issue 12) — and only when the account has no second factor. A known device keeps its
      // token; a new one gets its own, to present at its next login.
      const session = await opening.openPasswordLogin(user.id, verifiedHash, meta, deviceId !== undefined);
      // A second factor on the account: no tokens yet, a single-use MFA token bound to this client.
      if (session.outcome === 'second_factor') return mfa.beginMfaLogin(user, verifiedHash, meta, input.device_token);
      if (session.outcome === 'password_changed') {
        fail('login', 'password_changed');
        throw invalidCredentials();
      }
      succeed('login');
      const deviceToken = session.deviceToken ?? (input.device_token as string);
      await auditEvent(meta, {
        type: 'login_succeeded',
        userId: user.id,
        email: user.email,
        details: { session_id: session.sessionId, known_device: deviceId !== undefined },
      });
      return { ...(await tokenResponse(toPublicUser(user), session.sessionId, session.refreshToken, session.authentication)), device_token: deviceToken };
    },

    /**
     * A new password for the signed-in user, proved by the current one (counted like a login). Every
     * other session is revoked, every one-time token invalidated, a notice mailed; the caller's own
     * session continues with a fresh token pair (a new auth_time).
     */
    async changePassword(
      auth: AuthContext,
      input: { current_password: string; new_password: string; device_token?: string },
      meta: RequestMeta,
    ): Promise<TokenResponse> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_credentials');
      await proveCurrentPassword(user, input.current_password, 'password_change', meta, input.device_token);
      const next = await credentials.hashNewPassword('password_change', input.new_password, user.email);
      const outcome = await knex.transaction(async (trx) => {
        if (!(await users.replacePasswordHash(user.id, user.password_hash, next, trx))) return undefined;
        // This session first (its refresh-token rows, then its row: a racing refresh's lock order),
        // then every other session, so no refresh can hold one lock while waiting for the other.
        const renewed = await renewSession(trx, user, auth.sessionId, ['pwd']);
        if (!renewed) return undefined;
        const revoked = await sessions.revokeAllForUser(user.id, 'password_changed', auth.sessionId, trx);
        await accountTokens.invalidateAll(trx, user.id, clock.now());
        await mail.enqueue(trx, passwordChangedMail(user.email, accounts.appUrl), { requestId: meta.requestId, userId: user.id });
        return { revoked, renewed };
      });
      if (!outcome) {
        // The hash changed under us (a concurrent change or rehash), or this session was revoked meanwhile.
        fail('password_change', 'conflict');
        throw invalidCredentials();
      }
      for (const id of outcome.revoked) guard.markRevoked(id);
      mail.wake();
      succeed('password_change');
      await auditEvent(meta, {
        type: 'password_changed',
        userId: user.id,
        email: user.email,
        details: { sessions_revoked: outcome.revoked.length },
      });
      return tokenResponse(toPublicUser(user), auth.sessionId, outcome.renewed.refreshToken, { authTime: outcome.renewed.authTime, amr: ['pwd'] });
    },

    /**
     * Step-up: the password again → a fresh pair for the same session with a new auth_time. With a
     * second factor on the account, the factor too (`code` or `recovery_code`), or 401 `second_factor_required`.
     */
    async reauthenticate(auth: AuthContext, input: { password: string; device_token?: string } & SecondFactorInput, meta: RequestMeta): Promise<TokenResponse> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      await proveCurrentPassword(user, input.password, 'reauthenticate', meta, input.device_token);
      let amr: string[] = ['pwd'];
      if (await mfa.hasSecondFactor(user.id)) {
        if (input.code === undefined && input.recovery_code === undefined && input.webauthn === undefined) {
          fail('reauthenticate', 'second_factor_required');
          throw new AppError('second_factor_required', { detail: 'This account has a second factor: send `code`, `recovery_code` or `webauthn` with the password.' });
        }
        const deviceId = looksLikeDeviceToken(input.device_token) ? await devices.recognise(user.id, input.device_token, clock.now()) : undefined;
        const proof = await mfa.proveSecondFactor(user, input, meta, deviceId, 'reauthenticate');
        amr = ['pwd', ...proof.amr, 'mfa'];
      }
      const renewed = await knex.transaction((trx) => renewSession(trx, user, auth.sessionId, amr));
      if (!renewed) {
        fail('reauthenticate', 'session_revoked');
        throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
      succeed('reauthenticate');
      await auditEvent(meta, { type: 'reauthenticated', userId: user.id, details: { session_id: auth.sessionId, amr } });
      return tokenResponse(toPublicUser(user), auth.sessionId, renewed.refreshToken, { authTime: renewed.authTime, amr });
    },

    async me(auth: AuthContext): Promise<AccountView> {
      const row = await users.accountView(auth.userId);
      if (!row) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      return toAccountView(row);
    },
  };
}
