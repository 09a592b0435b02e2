/**
 * The names `secops db roles apply` uses unless told otherwise. A module of its own with no imports:
 * main.ts shows these defaults in `--help` without loading the database code.
 */
export const DEFAULT_ROLES = Object.freeze({
  owner: 'rampart_owner',
  runtime: 'rampart_runtime',
  users: ['rampart_app_a', 'rampart_app_b'] as const,
  /** LOGIN member of the owner role whose sessions run as the owner: the migration Job's credential. */
  migrator: 'rampart_migrator',
  /** LOGIN, SELECT on every table and sequence: the backup Job's credential (pg_dump). */
  backup: 'rampart_backup',
  /** LOGIN CREATEDB, nothing on the app's tables: the restore drill's credential (scratch databases). */
  drill: 'rampart_drill',
  /**
   * LOGIN, SELECT and DELETE on messages, conversations and audit_events only (plus UPDATE on their id
   * column, which the row locks need): the retention Job's credential (`secops retention run`).
   */
  retention: 'rampart_retention',
  /** Template database holding amcheck, so the drill's scratch copies can be index-checked without superuser. */
  drillTemplate: 'rampart_drill_template',
  schema: 'public',
  connectionLimit: 20,
});

/** Which credential a role is: the profile `secops db roles check --as` holds it to. */
export const ROLE_KINDS = ['runtime', 'migrator', 'backup', 'drill', 'retention'] as const;
export type RoleKind = (typeof ROLE_KINDS)[number];
