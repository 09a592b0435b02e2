import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RoleLayout } from '../../cli/src/lib/db-roles/apply.js';
import { adminQuery, withDatabase } from './database.js';

/**
 * Roles are cluster-wide: each test file that runs `secops db roles apply` on the shared server uses
 * names of its own (a random prefix) and drops them, and the drill's template database, at the end.
 */
export interface TestRoles {
  owner: string;
  runtime: string;
  users: [string, string];
  migrator: string;
  backup: string;
  drill: string;
  retention: string;
  drillTemplate: string;
  /** Every role name, for cleanup. */
  all: string[];
  /** The `secops db roles apply` flags naming them. */
  flags: string[];
  layout: RoleLayout;
}

export function testRoles(tag: string, connectionLimit = 10): TestRoles {
  const p = `${tag}${randomBytes(3).toString('hex')}`;
  const r = {
    owner: `${p}_owner`,
    runtime: `${p}_runtime`,
    users: [`${p}_app_a`, `${p}_app_b`] as [string, string],
    migrator: `${p}_migrator`,
    backup: `${p}_backup`,
    drill: `${p}_drill`,
    retention: `${p}_retention`,
    drillTemplate: `${p}_drill_template`,
  };
  return {
    ...r,
    all: [r.owner, r.runtime, ...r.users, r.migrator, r.backup, r.drill, r.retention],
    flags: [
      '--owner',
      r.owner,
      '--runtime',
      r.runtime,
      '--users',
      r.users.join(','),
      '--migrator',
      r.migrator,
      '--backup',
      r.backup,
      '--drill',
      r.drill,
      '--retention',
      r.retention,
      '--drill-template',
      r.drillTemplate,
    ],
    layout: {
      owner: r.owner,
      runtime: r.runtime,
      users: r.users,
      migrator: r.migrator,
      backup: r.backup,
      drill: r.drill,
      retention: r.retention,
      schema: 'public',
      connectionLimit,
    },
  };
}

/** The server's maintenance database, for what outlives the test database (roles, the template). */
export function maintenanceUrl(url: string): string {
  return withDatabase(url, 'postgres');
}

/**
 * Drops what the roles own or were granted in `url`'s database, then `dropDatabase()` (the test's
 * own), then the drill template and the roles themselves. Extra roles (a test's admin) go too.
 */
export async function dropTestRoles(
  url: string,
  roles: TestRoles,
  dropDatabase: () => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  const all = [...roles.all, ...extra];
  const existing = (await adminQuery(url, 'select rolname from pg_roles where rolname = any($1)', [all])).rows.map(
    (r) => r.rolname as string,
  );
  if (existing.length > 0) await adminQuery(url, `reassign owned by ${existing.map((r) => `"${r}"`).join(', ')} to current_user`);
  // One role at a time: DROP OWNED BY over several roles trips on a default ACL naming another of them.
  for (const role of existing) await adminQuery(url, `drop owned by "${role}"`);
  await dropDatabase();
  const admin = maintenanceUrl(url);
  const template = await adminQuery(admin, 'select 1 from pg_database where datname = $1', [roles.drillTemplate]);
  if (template.rowCount) {
    await adminQuery(admin, `alter database "${roles.drillTemplate}" is_template false`);
    await adminQuery(admin, `drop database if exists "${roles.drillTemplate}" with (force)`);
  }
  // Scratch databases a failed drill left behind would block DROP ROLE: they belong to the drill role.
  const scratch = await adminQuery(admin, 'select datname from pg_database where pg_get_userbyid(datdba) = $1', [roles.drill]);
  for (const { datname } of scratch.rows) await adminQuery(admin, `drop database if exists "${datname}" with (force)`);
  for (const role of all) await adminQuery(admin, `drop role if exists "${role}"`);
}

/** `base` with `user` as its user and no password (the test cluster trusts local connections). */
export function urlAs(base: string, user: string): string {
  const u = new URL(base);
  u.username = user;
  u.password = '';
  return u.toString();
}

/** Runs `fn` on a connection as `user`. */
export async function asRole<T>(base: string, user: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlAs(base, user) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
