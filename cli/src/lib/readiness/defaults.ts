/** `secops readiness`'s defaults, shown by `--help` (main.ts) and applied by the command: one copy. */
export const READINESS_DEFAULTS = Object.freeze({
  /** Drill reports older than this fail backup.drill. */
  drillMaxAge: '48h',
  /** Per-request timeout. */
  timeout: '10s',
});
