/** `secops readiness`'s defaults, declared with its options (readiness.command.ts): one copy. */
export const READINESS_DEFAULTS = Object.freeze({
  /** Drill reports older than this fail backup.drill. */
  drillMaxAge: '48h',
  /** Per-request timeout. */
  timeout: '10s',
});
