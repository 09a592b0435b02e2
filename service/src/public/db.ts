// The database: pools, raw sessions, migrations and their advisory lock.
export * from '../platform/db.js';
export * from '../platform/migrations.js';
export { type HostList, parseHostList, type TargetSessionAttrs } from '../platform/pg-hosts.js';
