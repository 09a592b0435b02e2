import type { AuthServiceDeps, RequestMeta } from './auth-types.js';
import type { FlowOutcomes } from './flow-outcomes.js';

/**
 * What every mail-sending flow shares: the per-address budget (RATE_LIMIT_MAIL_PER_HOUR, shared by
 * every replica through the limiter's Redis, keyed by the address's keyed hash) and running the
 * address-dependent part after the 202 is sent.
 */
export function createMailRequests(deps: Pick<AuthServiceDeps, 'mailLimiter' | 'emailKey' | 'metrics' | 'deferred'>, outcomes: FlowOutcomes) {
  return {
    /**
     * Spends one mail of `email`'s hourly budget; false when it is spent (no mail then — the client
     * already has its 202 either way, so nothing tells it apart). Counted and audited.
     */
    async mayMail(email: string, template: string, meta: RequestMeta, userId?: string): Promise<boolean> {
      const { allowed } = await deps.mailLimiter.consume(deps.emailKey(email));
      if (allowed) return true;
      deps.metrics.mailSuppressedTotal.inc({ template, reason: 'rate_limited' });
      await outcomes.auditEvent(meta, { type: 'mail_rate_limited', userId: userId ?? null, email, details: { template } });
      return false;
    },
    /** Runs the part of a flow whose work depends on the address after the answer went out. */
    afterAnswer(label: string, job: () => Promise<void>): void {
      deps.deferred.run(label, job);
    },
  };
}

export type MailRequests = ReturnType<typeof createMailRequests>;
