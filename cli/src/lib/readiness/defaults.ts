/** `secops readiness`'s defaults, declared with its options (readiness.command.ts): one copy. */
export const READINESS_DEFAULTS = Object.freeze({
  /** Drill reports older than this fail backup.drill (and backup.pitr). */
  drillMaxAge: '48h',
  /** Per-request timeout. */
  timeout: '10s',
  /** The retention job deletes messages after 90 days (k8s/base/cronjob-retention.yaml); plus a day for its schedule. */
  retentionMaxAge: '91d',
  /** The shortest PITR window backup.pitr accepts (RampartPitrWindowShort: 24 hours). */
  pitrMinWindow: '24h',
  /** Bound of `kubectl kustomize` and `promtool check rules`. */
  toolTimeout: '60s',
  /** Used when present and no flag names another (run from the repository of the deployment). */
  alertsDir: 'alerts',
  runbooksDir: 'runbooks',
  workflows: '.github/workflows',
  wafConfig: 'k8s/ingress-nginx/controller-configmap.yaml',
  /** --ci's files. */
  junit: 'readiness.junit.xml',
  summary: 'readiness.md',
});
