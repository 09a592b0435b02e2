import type { CheckResult } from './http.js';
import { DEFAULT_PROBE_DOMAIN, newProbeIdentity, probeAudit } from './probe/account.js';
import { emailValidation, emailVerification, login, mfa, passwordPolicyAndSignup } from './probe/account-steps.js';
import { PROBE_CHECK_IDS, failed } from './probe/checks.js';
import { auditTrail, cleanup, requestSummary } from './probe/cleanup.js';
import { createProbeClient } from './probe/client.js';
import { bodyLimit, contentType, endpointLimits, userLimits } from './probe/limit-steps.js';
import type { ProbeOptions, Run } from './probe/run.js';
import { lockout, logout, refreshReuse, refreshRotation } from './probe/session-steps.js';

export { DEFAULT_PROBE_DOMAIN, PROBE_OPERATOR } from './probe/account.js';
export { PROBE_CHECK_IDS, PROBE_CHECKS, type ProbeCheckId } from './probe/checks.js';
export { LOCKOUT_ATTEMPTS, type ProbeOptions, USER_LIMIT_READS } from './probe/run.js';

const STEPS: readonly ((run: Run) => Promise<void>)[] = [
  emailValidation,
  passwordPolicyAndSignup,
  emailVerification,
  login,
  mfa,
  userLimits,
  endpointLimits,
  contentType,
  bodyLimit,
  refreshRotation,
  logout,
  lockout,
  refreshReuse,
  auditTrail,
];

/**
 * `secops readiness --probe-account`: the active tier. A throwaway account is created on the live
 * deployment, driven through signup, verification, login, refresh rotation and reuse, logout, the
 * lockout (its owner's device still signing in), MFA enrolment and the request limits, and deleted at
 * the end through the service's own deletion — in a `finally`, also when a check fails or the run is
 * interrupted. Every request names the probe's own address; nothing printed holds a token or a password.
 * Request counts and safety rules: docs/readiness-probes.md.
 */
export async function probeChecks(options: ProbeOptions): Promise<CheckResult[]> {
  const controller = new AbortController();
  const stop = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const id = newProbeIdentity(options.domain ?? DEFAULT_PROBE_DOMAIN);
  const run: Run = {
    id,
    client: createProbeClient({
      url: options.url,
      timeoutMs: options.timeoutMs,
      signal: controller.signal,
      requestIdPrefix: id.requestIdPrefix,
    }),
    db: options.database,
    audit: probeAudit(options.emailHashKey),
    options,
    signal: controller.signal,
    results: new Map(),
    wrongAttempts: 0,
  };
  let stoppedBy: string | undefined;
  try {
    for (const step of STEPS) {
      if (controller.signal.aborted) break;
      try {
        await step(run);
      } catch (err) {
        if (controller.signal.aborted) break;
        stoppedBy = (err as Error).message;
        break;
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    const result = await cleanup(run);
    run.results.set('probe.cleanup', { ...result, evidence: `${result.evidence}; ${requestSummary(run.client.counts)}` });
  }
  const why = controller.signal.aborted
    ? 'interrupted (SIGINT/SIGTERM) before this check'
    : `not run: the probe stopped (${stoppedBy ?? 'an earlier check failed'})`;
  return PROBE_CHECK_IDS.map((id) => run.results.get(id) ?? failed(id, why));
}
