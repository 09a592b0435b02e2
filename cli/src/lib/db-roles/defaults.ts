/**
 * The names `secops db roles apply` uses unless told otherwise. A module of its own with no imports:
 * main.ts shows these defaults in `--help` without loading the database code.
 */
export const DEFAULT_ROLES = Object.freeze({
  owner: 'rampart_owner',
  runtime: 'rampart_runtime',
  users: ['rampart_app_a', 'rampart_app_b'] as const,
  schema: 'public',
  connectionLimit: 20,
});
