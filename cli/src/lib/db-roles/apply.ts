import type { Knex } from '../../../../service/src/public/db.js';
import {
  type RoleRow,
  readMemberships,
  readRelations,
  readRoleSetting,
  readRoles,
  readSchemaOwner,
  readTableSequences,
} from './catalog.js';
import { quoteIdent as q, quoteLiteral } from './identifiers.js';
import { classifyTable } from './layout.js';

export interface RoleLayout {
  /** NOLOGIN group that owns the schema and every table; migrations run as a login member of it. */
  owner: string;
  /** NOLOGIN group holding the service's privileges. */
  runtime: string;
  /** The LOGIN users that alternate on rotation, members of `runtime`. */
  users: readonly string[];
  /** LOGIN member of `owner` whose sessions default to `SET ROLE owner`: runs the migrations (DDL). */
  migrator: string;
  /** LOGIN, SELECT on every table and sequence of the schema and nothing else: runs pg_dump. */
  backup: string;
  /** LOGIN CREATEDB, CONNECT only: restores backups into scratch databases it creates and drops. */
  drill: string;
  /** LOGIN, SELECT and DELETE on the tables retention ages out (RETENTION_TABLES) and nothing else. */
  retention: string;
  schema: string;
  connectionLimit: number;
}

type Attributes = Omit<RoleRow, 'rolname'>;

/**
 * What `secops retention run` archives and deletes (cli/src/lib/retention/queries.ts). It locks the rows
 * first (`SELECT … FOR UPDATE`), which PostgreSQL allows only with UPDATE on at least one column: the
 * retention role gets UPDATE on `id` alone. Rows that reference a deleted conversation go by the
 * foreign keys' own actions, which run with the table owner's rights.
 */
export const RETENTION_TABLES = ['messages', 'conversations', 'audit_events'] as const;
export const RETENTION_LOCK_COLUMN = 'id';

const GROUP: Omit<Attributes, 'rolconnlimit'> = {
  rolsuper: false,
  rolinherit: true,
  rolcreaterole: false,
  rolcreatedb: false,
  rolcanlogin: false,
  rolreplication: false,
  rolbypassrls: false,
};

const KEYWORDS: Record<keyof Omit<Attributes, 'rolconnlimit'>, [string, string]> = {
  rolsuper: ['SUPERUSER', 'NOSUPERUSER'],
  rolinherit: ['INHERIT', 'NOINHERIT'],
  rolcreaterole: ['CREATEROLE', 'NOCREATEROLE'],
  rolcreatedb: ['CREATEDB', 'NOCREATEDB'],
  rolcanlogin: ['LOGIN', 'NOLOGIN'],
  rolreplication: ['REPLICATION', 'NOREPLICATION'],
  rolbypassrls: ['BYPASSRLS', 'NOBYPASSRLS'],
};

/**
 * CREATE ROLE with every attribute spelled out, or ALTER ROLE with only the attributes that differ:
 * naming NOSUPERUSER/NOREPLICATION/NOBYPASSRLS in ALTER ROLE needs a superuser even when nothing
 * changes, and an admin with only CREATEROLE must still be able to re-apply. Passwords are never
 * touched here (a new login user has none until its first rotation).
 */
function roleStatement(
  name: string,
  want: Omit<Attributes, 'rolconnlimit'>,
  connlimit: number,
  have: RoleRow | undefined,
): string[] {
  const all = (Object.keys(KEYWORDS) as (keyof typeof KEYWORDS)[]).map((k) => KEYWORDS[k][want[k] ? 0 : 1]);
  if (!have) return [`CREATE ROLE ${q(name)} ${all.join(' ')} CONNECTION LIMIT ${connlimit} PASSWORD NULL`];
  const diff = (Object.keys(KEYWORDS) as (keyof typeof KEYWORDS)[])
    .filter((k) => have[k] !== want[k])
    .map((k) => KEYWORDS[k][want[k] ? 0 : 1]);
  if (have.rolconnlimit !== connlimit) diff.push(`CONNECTION LIMIT ${connlimit}`);
  return diff.length === 0 ? [] : [`ALTER ROLE ${q(name)} ${diff.join(' ')}`];
}

/**
 * The statements that bring the roles and grants to the layout, computed from the catalog as it is
 * now (read with `knex`, ideally the transaction the statements will run in). Re-running on an
 * applied database yields only the idempotent REVOKE/GRANT block.
 */
export async function planRoles(knex: Knex, layout: RoleLayout): Promise<string[]> {
  const { owner, runtime, users, migrator, backup, drill, retention, schema, connectionLimit } = layout;
  const database = ((await knex.raw('select current_database() as name')) as { rows: { name: string }[] }).rows[0]
    ?.name as string;
  const roles = await readRoles(knex, [owner, runtime, ...users, migrator, backup, drill, retention]);
  const sql: string[] = [];

  // Roles. Each workload logs in with its own: the API (the alternating pair), the migration Job, the
  // backup Job and the restore drill — none can do another's work (issue 19).
  const login = { ...GROUP, rolcanlogin: true };
  sql.push(...roleStatement(owner, GROUP, -1, roles.get(owner)));
  sql.push(...roleStatement(runtime, GROUP, -1, roles.get(runtime)));
  for (const user of users) sql.push(...roleStatement(user, login, connectionLimit, roles.get(user)));
  sql.push(...roleStatement(migrator, login, connectionLimit, roles.get(migrator)));
  sql.push(...roleStatement(backup, login, connectionLimit, roles.get(backup)));
  sql.push(...roleStatement(drill, { ...login, rolcreatedb: true }, connectionLimit, roles.get(drill)));
  sql.push(...roleStatement(retention, login, connectionLimit, roles.get(retention)));

  // An admin that is not a superuser (CREATEROLE, e.g. a managed service's master user) may only hand
  // its schema and tables to the owner role, and set the owner's default privileges, as a member of it.
  const { rows: admin } = (await knex.raw(
    `select rolsuper as super, exists (select 1 from pg_catalog.pg_roles g where g.rolname = ?
              and pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER')) as member
       from pg_catalog.pg_roles where rolname = current_user`,
    [owner],
  )) as { rows: { super: boolean; member: boolean }[] };
  if (!admin[0]?.super && !admin[0]?.member) sql.push(`GRANT ${q(owner)} TO CURRENT_USER`);

  // Memberships: each user in the runtime group, the migrator in the owner group, nothing else.
  const wanted = [...users.map((member) => ({ member, role: runtime })), { member: migrator, role: owner }];
  const isWanted = (m: { member: string; role: string }) => wanted.some((w) => w.member === m.member && w.role === m.role);
  const memberships =
    roles.size === 0 ? [] : await readMemberships(knex, [runtime, ...users, migrator, backup, drill, retention]);
  for (const m of memberships) if (!isWanted(m)) sql.push(`REVOKE ${q(m.role)} FROM ${q(m.member)}`);
  for (const w of wanted)
    if (!memberships.some((m) => m.member === w.member && m.role === w.role)) sql.push(`GRANT ${q(w.role)} TO ${q(w.member)}`);
  // The migrator's sessions act as the owner, so what the migrations create is the owner's (and the
  // owner's default privileges below apply to it), never the login user's.
  if ((await readRoleSetting(knex, migrator, 'role')) !== owner)
    sql.push(`ALTER ROLE ${q(migrator)} SET role = ${quoteLiteral(owner)}`);
  const grantees = [runtime, ...users, migrator, backup, drill, retention].map(q).join(', ');

  // Database: nobody connects or creates through PUBLIC any more.
  sql.push(`REVOKE ALL ON DATABASE ${q(database)} FROM PUBLIC`);
  sql.push(`REVOKE ALL ON DATABASE ${q(database)} FROM ${grantees}`);
  sql.push(`GRANT CONNECT ON DATABASE ${q(database)} TO ${q(owner)}, ${q(runtime)}, ${q(backup)}, ${q(drill)}, ${q(retention)}`);

  // Schema: owned by the owner role; usable, never writable, by the runtime group.
  const schemaOwner = await readSchemaOwner(knex, schema);
  if (schemaOwner === undefined) sql.push(`CREATE SCHEMA ${q(schema)} AUTHORIZATION ${q(owner)}`);
  else if (schemaOwner !== owner) sql.push(`ALTER SCHEMA ${q(schema)} OWNER TO ${q(owner)}`);
  sql.push(`REVOKE CREATE ON SCHEMA ${q(schema)} FROM PUBLIC`);
  if (schema !== 'public' && (await readSchemaOwner(knex, 'public')) !== undefined)
    sql.push('REVOKE CREATE ON SCHEMA "public" FROM PUBLIC');
  sql.push(`REVOKE ALL ON SCHEMA ${q(schema)} FROM ${grantees}`);
  sql.push(`GRANT USAGE ON SCHEMA ${q(schema)} TO ${q(runtime)}, ${q(backup)}, ${q(retention)}`);

  // Ownership of every table, view and free-standing sequence (owned sequences follow their table).
  const relations = schemaOwner === undefined ? [] : await readRelations(knex, schema);
  for (const r of relations) {
    if (r.owner === owner || (r.kind === 'S' && r.ownedByTable)) continue;
    const what =
      { r: 'TABLE', p: 'TABLE', f: 'FOREIGN TABLE', v: 'VIEW', m: 'MATERIALIZED VIEW', S: 'SEQUENCE' }[r.kind] ?? 'TABLE';
    sql.push(`ALTER ${what} ${q(schema)}.${q(r.name)} OWNER TO ${q(owner)}`);
  }

  // Privileges: start from nothing, then grant exactly the layout (one transaction: no gap is visible).
  sql.push(`REVOKE ALL ON ALL TABLES IN SCHEMA ${q(schema)} FROM PUBLIC, ${grantees}`);
  sql.push(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${q(schema)} FROM PUBLIC, ${grantees}`);
  const tables = relations.filter((r) => r.kind === 'r' || r.kind === 'p');
  const byClass = (c: ReturnType<typeof classifyTable>) =>
    tables.filter((t) => classifyTable(t.name) === c).map((t) => `${q(schema)}.${q(t.name)}`);
  const dml = byClass('dml');
  const appendOnly = byClass('append-only');
  const readOnly = byClass('read-only');
  if (dml.length > 0) sql.push(`GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE ${dml.join(', ')} TO ${q(runtime)}`);
  if (appendOnly.length > 0) sql.push(`GRANT SELECT, INSERT ON TABLE ${appendOnly.join(', ')} TO ${q(runtime)}`);
  if (readOnly.length > 0) sql.push(`GRANT SELECT ON TABLE ${readOnly.join(', ')} TO ${q(runtime)}`);
  const sequences = (await readTableSequences(knex, schema))
    .filter((s) => ['dml', 'append-only'].includes(classifyTable(s.table)))
    .map((s) => `${q(schema)}.${q(s.sequence)}`);
  const standalone = relations.filter((r) => r.kind === 'S' && !r.ownedByTable).map((r) => `${q(schema)}.${q(r.name)}`);
  const usable = [...new Set([...sequences, ...standalone])];
  if (usable.length > 0) sql.push(`GRANT USAGE, SELECT ON SEQUENCE ${usable.join(', ')} TO ${q(runtime)}`);
  // The functions the migrations define (open_password_login: a login's writes in one round trip) are
  // SECURITY INVOKER: EXECUTE lends no privilege beyond the caller's own on the tables. PUBLIC holds it
  // by default; it is granted to the runtime role by name too, so a server whose default privileges
  // revoke it from PUBLIC still lets the service log users in.
  sql.push(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${q(schema)} TO ${q(runtime)}`);
  // The backup role reads everything pg_dump dumps — every relation and sequence — and writes nothing.
  const readable = relations.filter((r) => r.kind !== 'S').map((r) => `${q(schema)}.${q(r.name)}`);
  const allSequences = relations.filter((r) => r.kind === 'S').map((r) => `${q(schema)}.${q(r.name)}`);
  if (readable.length > 0) sql.push(`GRANT SELECT ON TABLE ${readable.join(', ')} TO ${q(backup)}`);
  if (allSequences.length > 0) sql.push(`GRANT SELECT ON SEQUENCE ${allSequences.join(', ')} TO ${q(backup)}`);
  // The retention role reads and deletes the aged tables, nothing else. Tables a later migration creates
  // get nothing by default: a new environment runs `db roles apply` again after its first migration.
  const aged = tables
    .filter((t) => (RETENTION_TABLES as readonly string[]).includes(t.name))
    .map((t) => `${q(schema)}.${q(t.name)}`);
  if (aged.length > 0) {
    sql.push(`GRANT SELECT, DELETE ON TABLE ${aged.join(', ')} TO ${q(retention)}`);
    sql.push(`GRANT UPDATE (${q(RETENTION_LOCK_COLUMN)}) ON TABLE ${aged.join(', ')} TO ${q(retention)}`);
  }

  // Tables and sequences later migrations create (as the owner role) get the same DML grants.
  const defaults = `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(owner)} IN SCHEMA ${q(schema)}`;
  sql.push(`${defaults} REVOKE ALL ON TABLES FROM ${q(runtime)}, ${q(backup)}`);
  sql.push(`${defaults} REVOKE ALL ON SEQUENCES FROM ${q(runtime)}, ${q(backup)}`);
  sql.push(`${defaults} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${q(runtime)}`);
  sql.push(`${defaults} GRANT USAGE, SELECT ON SEQUENCES TO ${q(runtime)}`);
  sql.push(`${defaults} GRANT EXECUTE ON FUNCTIONS TO ${q(runtime)}`);
  sql.push(`${defaults} GRANT SELECT ON TABLES TO ${q(backup)}`);
  sql.push(`${defaults} GRANT SELECT ON SEQUENCES TO ${q(backup)}`);
  return sql;
}

/** Plans and runs the statements in one transaction; with `dryRun` only plans (nothing is changed). */
export async function applyRoles(knex: Knex, layout: RoleLayout, options: { dryRun: boolean }): Promise<string[]> {
  if (options.dryRun) {
    // Planned inside a read-only transaction so the plan sees one consistent catalog.
    const trx = await knex.transaction({ readOnly: true });
    try {
      return await planRoles(trx, layout);
    } finally {
      await trx.rollback();
    }
  }
  return knex.transaction(async (trx) => {
    const statements = await planRoles(trx, layout);
    for (const statement of statements) await trx.raw(statement);
    return statements;
  });
}
