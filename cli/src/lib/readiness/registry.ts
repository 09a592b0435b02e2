import { ALERT_CHECK_IDS } from './alerts.js';
import { BACKUP_CHECK_IDS } from './backups.js';
import { DATABASE_CHECK_IDS } from './database.js';
import { DOCKERFILE_CHECK_IDS } from './dockerfile.js';
import { HTTP_CHECK_IDS } from './http.js';
import { MANIFEST_CHECK_IDS } from './manifests.js';
import { METRICS_CHECK_IDS } from './metrics.js';
import { PIPELINE_CHECK_IDS } from './pipeline.js';
import { RUNBOOK_CHECK_IDS } from './runbooks.js';

/**
 * The tiers of `secops readiness` and the checks each produces. A tier the operator did not select
 * leaves its checks "not run": an item they would prove is `[manual]` with the tier's `needs` as the
 * hint. Each module owns its list; the command refuses a result whose id is not listed here.
 */
export interface Tier {
  name: string;
  /** What the operator passes to run it. */
  needs: string;
  ids: readonly string[];
}

/**
 * The active-probe tier (`--probe-account`, cli/src/lib/readiness/probe.ts): a throwaway account driven
 * through the auth flows and deleted. Its module is wired by the command; these are its check ids.
 */
export const PROBE_CHECK_IDS = [
  'probe.signup',
  'probe.email-validation',
  'probe.password-policy',
  'probe.audit',
  'probe.login',
  'probe.refresh-rotation',
  'probe.refresh-reuse',
  'probe.logout',
  'probe.lockout',
  'probe.endpoint-limits',
  'probe.user-limits',
  'probe.content-type',
  'probe.body-limit',
  'probe.email-verification',
  'probe.mfa',
  'probe.cleanup',
] as const;

export const TIERS: readonly Tier[] = [
  { name: 'read-only', needs: '--url (and --metrics-url for the metrics)', ids: [...HTTP_CHECK_IDS, ...METRICS_CHECK_IDS] },
  {
    name: 'database',
    needs: '--database-url (or DATABASE_URL) of the production database, as the service’s own role',
    ids: DATABASE_CHECK_IDS,
  },
  { name: 'backups', needs: '--backup-dir (where `secops backup` and its drills write)', ids: BACKUP_CHECK_IDS },
  { name: 'dockerfile', needs: '--dockerfile (the deployed image’s Dockerfile)', ids: DOCKERFILE_CHECK_IDS },
  { name: 'alerts', needs: '--alerts-dir (the Prometheus rule files)', ids: ALERT_CHECK_IDS },
  { name: 'runbooks', needs: '--runbooks-dir', ids: RUNBOOK_CHECK_IDS },
  { name: 'pipeline', needs: '--workflows (the CI and release workflows, e.g. .github/workflows)', ids: PIPELINE_CHECK_IDS },
  { name: 'manifests', needs: '--kustomize <overlay dir> (the deployed Kubernetes manifests)', ids: MANIFEST_CHECK_IDS },
  { name: 'probe', needs: '--probe-account (the active probes: a throwaway account, created and deleted)', ids: PROBE_CHECK_IDS },
];

/** Every check id some module produces. */
export function producedChecks(): Set<string> {
  return new Set(TIERS.flatMap((t) => t.ids));
}

/** The tier producing a check (the first, for mail.outbox which the database refines). */
export function tierOf(checkId: string): Tier | undefined {
  return TIERS.find((t) => t.ids.includes(checkId));
}
