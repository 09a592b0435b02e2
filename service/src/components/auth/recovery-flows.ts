import { looksLikeAccountToken } from './account-tokens.js';
import { invalidOrExpiredToken, } from './auth-errors.js';
import type { AuthServiceDeps, RequestMeta } from './auth-types.js';
import { normalizeEmail } from './email.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { MailRequests } from './mail-requests.js';
import type { NewCredentials } from './new-credentials.js';
import { passwordChangedMail, passwordResetMail } from './mail-templates.js';

/**
 * Password recovery. The request answers 202 whatever the address (the work happens after the answer);
 * the confirmation sets the new password, revokes every session of the account (on every replica
 * within the session guard's bound), invalidates every other one-time token, proves the address and
 * sends a notice — all in one transaction with consuming the token.
 */
export function createRecoveryFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, mailRequests: MailRequests, credentials: NewCredentials) {
  const { knex, users, sessions, accountTokens, mail, guard, lockout, clock, accounts } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const ttlMinutes = Math.round(accounts.passwordResetTtlSeconds / 60);

  return {
    async requestPasswordReset(input: { email: string }, meta: RequestMeta): Promise<void> {
      const email = normalizeEmail(input.email);
      if (!email.ok) return;
      mailRequests.afterAnswer('password_reset', async () => {
        const user = await users.findByEmail(email.email);
        if (!user || user.disabled_at !== null) {
          await auditEvent(meta, { type: 'password_reset_requested', email: email.email, details: { account: false } });
          return;
        }
        if (!(await mailRequests.mayMail(email.email, 'reset_password', meta, user.id))) return;
        await knex.transaction(async (trx) => {
          const token = await accountTokens.issue(trx, user.id, 'reset_password', email.email, clock.now(), accounts.passwordResetTtlSeconds);
          await mail.enqueue(trx, passwordResetMail(email.email, accounts.appUrl, token, ttlMinutes), { requestId: meta.requestId, userId: user.id });
        });
        mail.wake();
        await auditEvent(meta, { type: 'password_reset_requested', userId: user.id, email: email.email, details: { account: true } });
      });
    },

    async confirmPasswordReset(input: { token: string; new_password: string }, meta: RequestMeta): Promise<void> {
      const now = clock.now();
      const refuse = async (reason: string) => {
        fail('password_reset', reason);
        await auditEvent(meta, { type: 'account_token_refused', details: { purpose: 'reset_password', reason } });
        return invalidOrExpiredToken();
      };
      if (!looksLikeAccountToken(input.token)) throw await refuse('unknown');
      // The new password is checked before the token is spent, so a weak one can be retried with the same link.
      const live = await accountTokens.peek(input.token, 'reset_password', now);
      const user = live ? await users.findById(live.user_id) : undefined;
      if (!live || !user || user.disabled_at !== null) throw await refuse('unknown_or_used');
      const hash = await credentials.hashNewPassword('password_reset', input.new_password, user.email);
      const outcome = await knex.transaction(async (trx) => {
        const consumed = await accountTokens.consume(trx, input.token, 'reset_password', now);
        if ('refused' in consumed) return { refused: consumed.refused } as const;
        if (!(await users.setPasswordHash(trx, consumed.user_id, hash, now))) return { refused: 'unknown' } as const;
        const revoked = await sessions.revokeAllForUser(consumed.user_id, 'password_reset', undefined, trx);
        await accountTokens.invalidateAll(trx, consumed.user_id, now);
        // The link came back from the address it was sent to: that address is proved.
        await users.markVerified(trx, consumed.user_id, consumed.email, now);
        await mail.enqueue(trx, passwordChangedMail(consumed.email, accounts.appUrl), { requestId: meta.requestId, userId: consumed.user_id });
        return { revoked, email: consumed.email, userId: consumed.user_id } as const;
      });
      if ('refused' in outcome) throw await refuse(outcome.refused ?? 'unknown');
      for (const id of outcome.revoked) guard.markRevoked(id);
      mail.wake();
      // Whoever was guessing this account's password is locked out no longer once its owner reset it.
      await lockout.recordSuccess(outcome.email, meta.ip);
      succeed('password_reset');
      await auditEvent(meta, {
        type: 'password_reset_completed',
        userId: outcome.userId,
        email: outcome.email,
        details: { sessions_revoked: outcome.revoked.length },
      });
    },
  };
}
