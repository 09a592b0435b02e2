import { setTimeout as delay } from 'node:timers/promises';
import type { CheckResult } from '../http.js';
import {
  auditCounts,
  awaitAccount,
  deleteProbeAccount,
  deletionRow,
  LEFTOVER_TABLES,
  leftovers,
  type OwnedIds,
  ownedIds,
  PROBE_OPERATOR,
  signupFailures,
} from './account.js';
import { failed, judged, passed } from './checks.js';
import { check, type Run } from './run.js';

/** The end of a run: the audit rows the service wrote for it, then the account's deletion and the proof nothing else remains. */

/** The service writes these rows for what the probe did (signup, login, the wrong passwords and the lock). */
export async function auditTrail(run: Run): Promise<void> {
  const userId = run.userId as string;
  await check(run, 'probe.audit', async () => {
    // Failures are aggregated by the service (the first row at once, repeats in a summary row when its
    // one-minute window closes): one login_failed row is what a run can see before it deletes the account.
    const expected: Record<string, number> = { signup_succeeded: 1, login_succeeded: 1, login_failed: 1 };
    if (run.results.get('probe.lockout')?.status === 'passed') expected.login_locked_out = 1;
    // A refused signup names no user: its row carries this run's X-Request-Id. The weak password's is keyed
    // by the probe's own address; the invalid address's is not (no address to key it by): it shares its
    // aggregation window with every invalid signup from this IP, so it is not required.
    if (run.results.get('probe.password-policy')?.status === 'passed') expected['signup_failed weak_password'] = 1;
    // Rows of requests already answered may still be on their way (written after the answer): bounded wait.
    const deadline = Date.now() + run.options.timeoutMs;
    let counts: Record<string, number>;
    for (;;) {
      counts = { ...(await auditCounts(run.db, userId)), ...(await signupFailures(run.db, run.id.requestIdPrefix)) };
      const missing = Object.entries(expected).filter(([type, n]) => (counts[type] ?? 0) < n);
      if (missing.length === 0 || Date.now() >= deadline) {
        const shown = Object.keys(expected)
          .map((type) => `${type} ${counts[type] ?? 0}`)
          .join(', ');
        return missing.length === 0
          ? passed(
              'probe.audit',
              `audit_events of the probe’s user and X-Request-Ids: ${shown} (the service summarizes repeated failures when its one-minute window closes)`,
            )
          : failed(
              'probe.audit',
              `audit_events of the probe’s user and X-Request-Ids: ${shown}; missing: ${missing.map(([t, n]) => `${t} (≥ ${n})`).join(', ')}`,
            );
      }
      await delay(50, undefined, { signal: run.signal });
    }
  });
}

/** What the run spent of the per-IP buckets, for the operator (docs/readiness-probes.md has the bounds). */
export function requestSummary(counts: ReadonlyMap<string, number>): string {
  let total = 0;
  let auth = 0;
  for (const [route, n] of counts) {
    total += n;
    if (route.split(' ')[1]?.startsWith('/v1/auth/')) auth += n;
  }
  const of = (route: string) => counts.get(route) ?? 0;
  return `the probe sent ${total} request(s): ${auth} to /v1/auth/* (${of('POST /v1/auth/login')} login, ${of('POST /v1/auth/signup')} signup, ${of('POST /v1/auth/refresh')} refresh)`;
}

/**
 * Deletes the probe's account (through the service's own deletion, audited with the probe's operator
 * name) and proves nothing of it remains but audit rows. Runs whatever happened before, with its own
 * bound: an interrupted run still cleans up (the run's abort signal is not used here).
 */
export async function cleanup(run: Run): Promise<CheckResult> {
  const manualFix = `remove it with: secops users delete --email ${run.id.email} --reason "readiness probe" --yes`;
  let userId = run.userId;
  let owned: OwnedIds = { sessions: [], conversations: [] };
  try {
    if (!userId) {
      // A 202 signup creates the account after its answer: give it the run's bound to appear.
      const wait = run.signupStatus === 202 ? run.options.timeoutMs : 0;
      userId = (await awaitAccount(run.db, run.id.email, wait, AbortSignal.timeout(wait + 1000)))?.id;
    }
    if (!userId) {
      return run.signupStatus === undefined
        ? passed(
            'probe.cleanup',
            `no account was created (the probe stopped before its signup); nothing to delete under ${run.id.email}`,
          )
        : failed('probe.cleanup', `no account found under ${run.id.email} to delete; if one appears later, ${manualFix}`);
    }
    owned = await ownedIds(run.db, userId);
    const deleted = await deleteProbeAccount(run.db, userId, run.audit);
    const left = await leftovers(run.db, userId, owned);
    const remaining = Object.entries(left);
    if (remaining.length > 0) {
      return failed(
        'probe.cleanup',
        `user ${userId} deleted: ${deleted}; rows remain: ${remaining.map(([t, n]) => `${t} ${n}`).join(', ')}; ${manualFix}`,
      );
    }
    const audit = await auditCounts(run.db, userId);
    const deletion = await deletionRow(run.db, userId);
    const auditRows = Object.values(audit).reduce((a, b) => a + b, 0);
    const named = deletion?.operator === PROBE_OPERATOR;
    const evidence = `user ${userId} deleted through the operator deletion; 0 rows in ${LEFTOVER_TABLES.join(', ')} (had ${owned.sessions.length} session(s), ${owned.conversations.length} conversation(s)); ${auditRows} audit row(s) remain, the deletion’s with operator ${JSON.stringify(deletion?.operator ?? null)}`;
    return judged(deleted && named, 'probe.cleanup', evidence);
  } catch (err) {
    let state = '';
    if (userId) {
      try {
        const left = await leftovers(run.db, userId, owned);
        state = `; rows remain: ${
          Object.entries(left)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ') || 'none'
        }`;
      } catch {
        state = '; the remaining rows could not be counted';
      }
    }
    return failed('probe.cleanup', `deleting ${run.id.email} failed: ${(err as Error).message}${state}; ${manualFix}`);
  }
}
