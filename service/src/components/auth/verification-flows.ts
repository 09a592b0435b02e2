
import { looksLikeAccountToken } from './account-tokens.js';
import { invalidOrExpiredToken, } from './auth-errors.js';
import type { AuthServiceDeps, RequestMeta, TokenResponse } from './auth-types.js';
import { normalizeEmail } from './email.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { MailRequests } from './mail-requests.js';
import type { NewCredentials } from './new-credentials.js';
import { accountExistsMail, verifyEmailMail } from './mail-templates.js';
import type { SessionOpening } from './session-opening.js';
import { toPublicUser } from './users-repo.js';

/** The answer to a signup when addresses must be verified: the same for a new and a taken address. */
export interface VerificationSent {
  status: 'verification_sent';
}

/**
 * Email verification (EMAIL_VERIFICATION=required): signup, resend and verify. Signup and resend answer
 * 202 whatever the address; what depends on it — creating the account or noticing it exists, issuing
 * the token, writing the mail — happens after the answer (mail-requests.ts), so neither the answer nor
 * its timing tells whether an account exists. The owner of a taken address gets a mail saying so.
 */
export function createVerificationFlows(
  deps: AuthServiceDeps,
  outcomes: FlowOutcomes,
  opening: SessionOpening,
  mailRequests: MailRequests,
  credentials: NewCredentials,
) {
  const { knex, users, accountTokens, mail, clock, accounts } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const ttlHours = Math.round(accounts.emailTokenTtlSeconds / 3600);

  /** Issues a verification token and writes its mail, inside `trx`. */
  async function sendVerification(trx: typeof knex, userId: string, email: string, meta: RequestMeta): Promise<void> {
    const token = await accountTokens.issue(trx, userId, 'verify_email', email, clock.now(), accounts.emailTokenTtlSeconds);
    await mail.enqueue(trx, verifyEmailMail(email, accounts.appUrl, token, ttlHours), { requestId: meta.requestId, userId });
  }

  return {
    /** For a signup with verification off: may this address be sent its (optional) verification link? */
    mayMailVerification: (email: string, meta: RequestMeta) => mailRequests.mayMail(email, 'verify_email', meta),
    sendVerification,
    async signupWithVerification(input: { email: string; password: string }, meta: RequestMeta): Promise<VerificationSent> {
      // Hashed for a taken address too: the answer costs the same whether or not the account exists.
      const accepted = await credentials.acceptSignup(input, meta);
      const email = { email: accepted.email };
      const { passwordHash } = accepted;
      mailRequests.afterAnswer('signup', async () => {
        const allowed = await mailRequests.mayMail(email.email, 'verify_email', meta);
        const created = await knex.transaction(async (trx) => {
          const user = await users.insert(email.email, passwordHash, trx);
          if (user && allowed) await sendVerification(trx, user.id, email.email, meta);
          else if (!user && allowed) await mail.enqueue(trx, accountExistsMail(email.email, accounts.appUrl), { requestId: meta.requestId });
          return user;
        });
        if (allowed) mail.wake();
        // Counted as the answer the client got — accepted, verification sent — whether or not the
        // address was taken, so /metrics is no account-existence oracle; the audit row tells them apart.
        succeed('signup');
        if (created) {
          await auditEvent(meta, { type: 'signup_succeeded', userId: created.id, email: email.email, details: { verification: 'required' } });
          if (allowed) await auditEvent(meta, { type: 'email_verification_requested', userId: created.id, email: email.email });
        } else {
          await auditEvent(meta, { type: 'signup_failed', email: email.email, details: { reason: 'email_taken', notified: allowed } });
        }
      });
      return { status: 'verification_sent' };
    },

    /** 202 always: a new link only for an existing account whose address is still unverified. */
    async resendVerification(input: { email: string }, meta: RequestMeta): Promise<void> {
      const email = normalizeEmail(input.email);
      if (!email.ok) return;
      mailRequests.afterAnswer('verify_email_resend', async () => {
        const user = await users.findByEmail(email.email);
        if (!user || user.email_verified_at !== null) return;
        if (!(await mailRequests.mayMail(email.email, 'verify_email', meta, user.id))) return;
        await knex.transaction((trx) => sendVerification(trx, user.id, email.email, meta));
        mail.wake();
        await auditEvent(meta, { type: 'email_verification_requested', userId: user.id, email: email.email, details: { resend: true } });
      });
    },

    /**
     * Consumes a verification token and signs the user in. The new session proved a mailbox, not a
     * password: it does not count as a recent authentication (sensitive operations ask for the password).
     */
    async verifyEmail(input: { token: string }, meta: RequestMeta): Promise<TokenResponse> {
      if (!looksLikeAccountToken(input.token)) {
        fail('verify_email', 'invalid_token');
        throw invalidOrExpiredToken();
      }
      const now = clock.now();
      const outcome = await knex.transaction(async (trx) => {
        const consumed = await accountTokens.consume(trx, input.token, 'verify_email', now);
        if ('refused' in consumed) return { refused: consumed.refused } as const;
        const user = await users.findById(consumed.user_id, trx);
        if (!user || user.disabled_at !== null || !(await users.markVerified(trx, user.id, consumed.email, now))) return { refused: 'address_changed' } as const;
        const session = await opening.openSession(user.id, user.password_hash, meta, trx, [], new Date(0));
        if (!session) return { refused: 'password_changed' } as const;
        return { user, session } as const;
      });
      if ('refused' in outcome) {
        fail('verify_email', outcome.refused ?? 'unknown');
        await auditEvent(meta, { type: 'account_token_refused', details: { purpose: 'verify_email', reason: outcome.refused } });
        throw invalidOrExpiredToken();
      }
      succeed('verify_email');
      await opening.evictBeyondLimit(outcome.user.id, meta);
      await auditEvent(meta, { type: 'email_verified', userId: outcome.user.id, email: outcome.user.email, details: { session_id: outcome.session.sessionId } });
      const deviceToken = await deps.devices.issue(outcome.user.id, clock.now());
      return {
        ...(await opening.tokenResponse(toPublicUser(outcome.user), outcome.session.sessionId, outcome.session.refreshToken, outcome.session.authentication)),
        device_token: deviceToken,
      };
    },
  };
}
