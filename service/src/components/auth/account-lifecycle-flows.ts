import { AppError } from '../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta } from './auth-types.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import { accountDeletedMail } from './mail-templates.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** What auth holds about a user, for the account export. */
export interface AccountProfile {
  user: { id: string; email: string; email_verified: boolean; email_verified_at: string | null; created_at: string };
  sessions: {
    id: string;
    created_at: string;
    last_used_at: string;
    expires_at: string;
    revoked_at: string | null;
    revoked_reason: string | null;
    ip: string | null;
    user_agent: string | null;
    auth_time: string;
    amr: string[];
  }[];
}

/** The account's own data (export) and its end (deletion). */
export function createAccountLifecycleFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes) {
  const { knex, users, sessions, guard, mail } = deps;
  const { succeed, auditEvent } = outcomes;
  const gone = () => new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });

  return {
    async profileOf(auth: AuthContext): Promise<AccountProfile> {
      const user = await users.findById(auth.userId);
      if (!user) throw gone();
      const rows = await sessions.listAll(user.id);
      return {
        user: {
          id: user.id,
          email: user.email,
          email_verified: user.email_verified_at !== null,
          email_verified_at: iso(user.email_verified_at),
          created_at: iso(user.created_at) as string,
        },
        sessions: rows.map((s) => ({
          id: s.id,
          created_at: iso(s.created_at) as string,
          last_used_at: iso(s.last_used_at) as string,
          expires_at: iso(s.expires_at) as string,
          revoked_at: iso(s.revoked_at),
          revoked_reason: s.revoked_reason,
          ip: s.ip,
          user_agent: s.user_agent,
          auth_time: iso(s.auth_time) as string,
          amr: s.amr,
        })),
      };
    },

    /**
     * Deletes the account in one transaction: the user row, and with it (foreign keys) every session,
     * refresh token, one-time token, conversation and message; the confirmation mail is written in the
     * same transaction. Access tokens of its sessions are refused here at once and on other replicas
     * within the session guard's bound (the sessions no longer exist). The audit trail keeps its rows:
     * their user id no longer leads to an account, and the address appears only as its keyed hash.
     */
    async deleteAccount(auth: AuthContext, meta: RequestMeta): Promise<void> {
      const outcome = await knex.transaction(async (trx) => {
        const user = await users.findById(auth.userId, trx);
        if (!user) return undefined;
        const ids = (await sessions.listAll(user.id, trx)).map((s) => s.id);
        await mail.enqueue(trx, accountDeletedMail(user.email), { requestId: meta.requestId, userId: user.id });
        if (!(await users.delete(trx, user.id))) return undefined;
        return { user, ids };
      });
      if (!outcome) throw gone();
      for (const id of outcome.ids) guard.markRevoked(id);
      mail.wake();
      succeed('account_delete');
      await auditEvent(meta, { type: 'account_deleted', userId: outcome.user.id, email: outcome.user.email, details: { sessions_revoked: outcome.ids.length } });
    },

    async recordExport(auth: AuthContext, meta: RequestMeta): Promise<void> {
      await auditEvent(meta, { type: 'account_exported', userId: auth.userId });
    },
  };
}
