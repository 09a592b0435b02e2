import { AppError } from '../../platform/errors.js';
import { weakPassword } from './auth-errors.js';
import type { AuthServiceDeps, RequestMeta } from './auth-types.js';
import { normalizeEmail } from './email.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import { normalizePassword } from './password-policy.js';

/**
 * The checks every flow that sets credentials shares: a valid address, a password the policy accepts
 * (judged against the address, so `alice2026` is weak for alice@), and its Argon2id hash of the NFKC form
 * (NIST SP 800-63B §5.1.1.2: the same password typed another way still verifies).
 */
export function createNewCredentials(deps: Pick<AuthServiceDeps, 'checkPassword' | 'hasher'>, outcomes: FlowOutcomes) {
  const { fail, auditEvent } = outcomes;

  /** A strong new password for the account at `email`, hashed; 400 `weak_password` otherwise. */
  async function hashNewPassword(flow: string, password: string, email: string): Promise<string> {
    const strength = deps.checkPassword(password, [email, email.split('@')[0] ?? '']);
    if (!strength.ok) {
      fail(flow, 'weak_password');
      throw weakPassword(strength);
    }
    return deps.hasher.hash(normalizePassword(password));
  }

  /** A signup's address and hashed password; 400 `invalid_email` / `weak_password`, audited as signup_failed. */
  async function acceptSignup(input: { email: string; password: string }, meta: RequestMeta): Promise<{ email: string; passwordHash: string }> {
    const email = normalizeEmail(input.email);
    if (!email.ok) {
      fail('signup', 'invalid_email');
      await auditEvent(meta, { type: 'signup_failed', details: { reason: 'invalid_email' } });
      throw new AppError('invalid_email', { detail: email.reason });
    }
    try {
      return { email: email.email, passwordHash: await hashNewPassword('signup', input.password, email.email) };
    } catch (err) {
      if (err instanceof AppError && err.code === 'weak_password') {
        await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'weak_password' } });
      }
      throw err;
    }
  }

  return { hashNewPassword, acceptSignup };
}

export type NewCredentials = ReturnType<typeof createNewCredentials>;
