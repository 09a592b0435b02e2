import type { AuditEvent } from '../audit/index.js';
import type { AuthServiceDeps, RequestMeta } from './auth-types.js';

/** How a flow reports its outcome: the auth success/failure counters and the audit trail. */
export function createFlowOutcomes(deps: Pick<AuthServiceDeps, 'metrics' | 'audit'>) {
  const { metrics, audit } = deps;
  return {
    fail: (flow: string, reason: string) => metrics.authFailTotal.inc({ flow, reason }),
    succeed: (flow: string) => metrics.authSuccessTotal.inc({ flow }),
    auditEvent: (meta: RequestMeta, event: Omit<AuditEvent, 'ip' | 'userAgent' | 'requestId'>) =>
      audit.record({ ...event, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId, clientRequestId: meta.clientRequestId }),
  };
}

export type FlowOutcomes = ReturnType<typeof createFlowOutcomes>;
