import { CHECKSUM_TABLE, KNEX_LOCK_TABLE, MIGRATIONS_TABLE } from '../../../../service/src/public/db.js';

export { DEFAULT_ROLES } from './defaults.js';

/**
 * Append-only tables: the runtime role may add and read rows, never change or remove them. Tables a
 * later migration adds get full DML through the default privileges — an append-only one must be
 * listed here (and its migration should `revoke update, delete` itself; see runbooks/secret-rotation.md).
 */
export const APPEND_ONLY_TABLES: readonly string[] = ['audit_events', 'model_usage'];

/**
 * Migration bookkeeping. The runtime role may only read what `secops readiness` (run as the service's
 * role) reads through readMigrationState: knex_migrations and the checksums. The lock table is the
 * migrator's alone — which is also why MIGRATE_ON_START must stay off for the runtime role.
 */
export const READ_ONLY_TABLES: readonly string[] = [MIGRATIONS_TABLE, CHECKSUM_TABLE];
export const PRIVATE_TABLES: readonly string[] = [KNEX_LOCK_TABLE];

/** A table a runtime connection must be able to SELECT (the rotation's login test). */
export const PROBE_TABLE = 'users';

export type TableClass = 'dml' | 'append-only' | 'read-only' | 'private';

export function classifyTable(name: string): TableClass {
  if (APPEND_ONLY_TABLES.includes(name)) return 'append-only';
  if (READ_ONLY_TABLES.includes(name)) return 'read-only';
  if (PRIVATE_TABLES.includes(name)) return 'private';
  return 'dml';
}
