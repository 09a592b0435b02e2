import { AppError } from '../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import { normalizeEmail } from './email.js';
import { codePoints } from '../../platform/text.js';
import { invalidCredentials, weakPassword } from './auth-errors.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { SessionOpening } from './session-opening.js';
import { MAX_PASSWORD_CODE_POINTS } from './password-policy.js';
import { normalizePassword } from './password-policy.js';
import { UnsupportedHashError } from './passwords.js';
import { type PublicUser, toPublicUser } from './users-repo.js';

/** Account flows: signup, login, password change, the caller's own account. */
export function createAccountFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, opening: SessionOpening) {
  const { knex, users, sessions, hasher, guard, lockout } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const { openSession, tokenResponse } = opening;
  return {
    async signup(input: { email: string; password: string }, meta: RequestMeta): Promise<TokenResponse> {
      const email = normalizeEmail(input.email);
      if (!email.ok) {
        fail('signup', 'invalid_email');
        await auditEvent(meta, { type: 'signup_failed', details: { reason: 'invalid_email' } });
        throw new AppError('invalid_email', { detail: email.reason });
      }
      const strength = deps.checkPassword(input.password, [email.email, email.email.split('@')[0] ?? '']);
      if (!strength.ok) {
        fail('signup', 'weak_password');
        await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'weak_password' } });
        throw weakPassword(strength);
      }
      // NIST SP 800-63B §5.1.1.2: hash the NFKC form, so the same password typed another way still verifies.
      const passwordHash = await hasher.hash(normalizePassword(input.password));
      const created = await knex.transaction(async (trx) => {
        const user = await users.insert(email.email, passwordHash, trx);
        if (!user) return undefined;
        const session = await openSession(user.id, passwordHash, meta, trx);
        // The row was inserted by this transaction with this hash: nothing else can have changed it.
        if (!session) throw new Error('signup: the account just created does not hold its password hash');
        return { user, ...session };
      });
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
      return tokenResponse(toPublicUser(created.user), created.sessionId, created.refreshToken);
    },

    async login(input: { email: string; password: string }, meta: RequestMeta): Promise<TokenResponse> {
      const email = normalizeEmail(input.email);
      // The lockout is keyed by the address as typed (normalized when valid), whether or not it exists.
      const lockEmail = email.ok ? email.email : input.email.trim().toLowerCase().slice(0, 320);
      try {
        await lockout.assertNotLocked(lockEmail, meta.ip);
      } catch (err) {
        fail('login', 'locked_out');
        throw err;
      }
      const loginFailed = async (reason: string, userId?: string) => {
        fail('login', reason);
        await auditEvent(meta, {
          type: 'login_failed',
          userId: userId ?? null,
          email: email.ok ? email.email : null,
          details: { reason },
        });
        const outcome = await lockout.recordFailure(lockEmail, meta.ip);
        if (outcome.lockStarted) {
          await auditEvent(meta, {
            type: 'login_locked_out',
            userId: userId ?? null,
            email: email.ok ? email.email : null,
            details: { lock_seconds: outcome.lockSeconds },
          });
        }
        return invalidCredentials();
      };
      const password = normalizePassword(input.password);
      const user = email.ok ? await users.findByEmail(email.email) : undefined;
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
      await lockout.recordSuccess(lockEmail, meta.ip);

      let verifiedHash = user.password_hash;
      if (hasher.needsRehash(user.password_hash)) {
        const upgraded = await hasher.hash(password);
        // Compare-and-swap: a concurrent password change wins over the upgrade.
        if (await users.replacePasswordHash(user.id, user.password_hash, upgraded)) {
          verifiedHash = upgraded;
          await auditEvent(meta, { type: 'password_rehashed', userId: user.id, email: user.email });
        }
      }
      // The session opens only while the password just verified is still the account's: a password
      // change that committed during the verify refuses this login; one that commits after sees (and
      // revokes) the new session. Without this, a login racing a change outlived it (issue 12).
      const session = await openSession(user.id, verifiedHash, meta);
      if (!session) {
        fail('login', 'password_changed');
        throw invalidCredentials();
      }
      succeed('login');
      await auditEvent(meta, {
        type: 'login_succeeded',
        userId: user.id,
        email: user.email,
        details: { session_id: session.sessionId },
      });
      return tokenResponse(toPublicUser(user), session.sessionId, session.refreshToken);
    },

    async changePassword(
      auth: AuthContext,
      input: { current_password: string; new_password: string },
      meta: RequestMeta,
    ): Promise<void> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_credentials');
      let valid = false;
      try {
        const current = normalizePassword(input.current_password);
        valid = codePoints(current) <= MAX_PASSWORD_CODE_POINTS && (await hasher.verify(user.password_hash, current));
      } catch (err) {
        if (!(err instanceof UnsupportedHashError)) throw err;
      }
      if (!valid) {
        fail('password_change', 'wrong_password');
        throw invalidCredentials();
      }
      const strength = deps.checkPassword(input.new_password, [user.email, user.email.split('@')[0] ?? '']);
      if (!strength.ok) {
        fail('password_change', 'weak_password');
        throw weakPassword(strength);
      }
      const next = await hasher.hash(normalizePassword(input.new_password));
      const revoked = await knex.transaction(async (trx) => {
        if (!(await users.replacePasswordHash(user.id, user.password_hash, next, trx))) return undefined;
        return sessions.revokeAllForUser(user.id, 'password_changed', auth.sessionId, trx);
      });
      if (!revoked) {
        // The hash changed under us (a concurrent change or rehash): the caller must retry with the current password.
        fail('password_change', 'conflict');
        throw invalidCredentials();
      }
      for (const id of revoked) guard.markRevoked(id);
      succeed('password_change');
      await auditEvent(meta, {
        type: 'password_changed',
        userId: user.id,
        email: user.email,
        details: { sessions_revoked: revoked.length },
      });
    },

    async me(auth: AuthContext): Promise<PublicUser> {
      const user = await users.findById(auth.userId);
      if (!user) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      return toPublicUser(user);
    },
  };
}
