import { AppError } from '../../platform/errors.js';
import { looksLikeAccountToken } from './account-tokens.js';
import { invalidOrExpiredToken } from './auth-errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta } from './auth-types.js';
import { normalizeEmail } from './email.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { MailRequests } from './mail-requests.js';
import { emailChangeConfirmMail, emailChangeNoticeMail, emailTakenMail } from './mail-templates.js';

/**
 * Changing the account's address: the request (recent authentication) answers 202 for a free and a
 * taken address alike; the new address gets a confirmation link — or, when it already has an account,
 * a mail saying so — and the old address a notice. The change happens when the link comes back.
 */
export function createEmailChangeFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, mailRequests: MailRequests) {
  const { knex, users, accountTokens, mail, clock, accounts } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const ttlHours = Math.round(accounts.emailTokenTtlSeconds / 3600);

  return {
    async requestEmailChange(auth: AuthContext, input: { new_email: string }, meta: RequestMeta): Promise<void> {
      const next = normalizeEmail(input.new_email);
      if (!next.ok) {
        fail('email_change', 'invalid_email');
        throw new AppError('invalid_email', { detail: next.reason });
      }
      mailRequests.afterAnswer('email_change', async () => {
        const user = await users.findById(auth.userId);
        if (!user || user.email === next.email) return;
        const owner = await users.findByEmail(next.email);
        const template = owner ? 'change_email_taken' : 'change_email';
        const toNew = await mailRequests.mayMail(next.email, template, meta, user.id);
        const toOld = await mailRequests.mayMail(user.email, 'change_email_notice', meta, user.id);
        const origin = { requestId: meta.requestId, userId: user.id };
        await knex.transaction(async (trx) => {
          if (toNew && owner) await mail.enqueue(trx, emailTakenMail(next.email, accounts.appUrl), origin);
          if (toNew && !owner) {
            const token = await accountTokens.issue(trx, user.id, 'change_email', next.email, clock.now(), accounts.emailTokenTtlSeconds);
            await mail.enqueue(trx, emailChangeConfirmMail(next.email, accounts.appUrl, token, ttlHours), origin);
          }
          if (toOld) await mail.enqueue(trx, emailChangeNoticeMail(user.email, next.email, accounts.appUrl), origin);
        });
        mail.wake();
        await auditEvent(meta, {
          type: 'email_change_requested',
          userId: user.id,
          email: user.email,
          details: { taken: owner !== undefined, confirmation_sent: toNew && !owner, notice_sent: toOld },
        });
      });
    },

    async confirmEmailChange(input: { token: string }, meta: RequestMeta): Promise<void> {
      const now = clock.now();
      const outcome = await knex.transaction(async (trx) => {
        if (!looksLikeAccountToken(input.token)) return { refused: 'unknown' } as const;
        const consumed = await accountTokens.consume(trx, input.token, 'change_email', now);
        if ('refused' in consumed) return { refused: consumed.refused } as const;
        const user = await users.findById(consumed.user_id, trx);
        if (!user) return { refused: 'unknown' } as const;
        // A savepoint: the address may have been taken since the request (the unique index decides).
        const changed = await trx
          .transaction((sp) => users.changeEmail(sp, user.id, user.email, consumed.email, now))
          .catch((err: { code?: string }) => {
            if (err.code === '23505') return false;
            throw err;
          });
        if (!changed) return { refused: 'address_taken' } as const;
        await accountTokens.invalidateAll(trx, user.id, now, ['verify_email', 'change_email']);
        return { userId: user.id, from: user.email, to: consumed.email } as const;
      });
      if ('refused' in outcome) {
        fail('email_change', outcome.refused ?? 'unknown');
        await auditEvent(meta, { type: 'account_token_refused', details: { purpose: 'change_email', reason: outcome.refused } });
        throw invalidOrExpiredToken();
      }
      succeed('email_change');
      await auditEvent(meta, { type: 'email_changed', userId: outcome.userId, email: outcome.to, details: {} });
    },
  };
}
