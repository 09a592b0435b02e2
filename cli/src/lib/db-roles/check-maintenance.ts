import type { Knex } from '../../../../service/src/public/db.js';
import { RETENTION_LOCK_COLUMN, RETENTION_TABLES } from './apply.js';
import { readRelations, readRoleClosure, readRoleSetting, readRoles } from './catalog.js';
import type { RoleCheck, RoleCheckReport } from './check.js';

/**
 * `secops db roles check --as migrator|backup|drill|retention`: does a maintenance Job's credential hold what
 * its work needs and nothing more? The privilege functions count inherited and PUBLIC grants, as the
 * server would. (The runtime profile is check.ts.)
 */

export type MaintenanceKind = 'migrator' | 'backup' | 'drill' | 'retention';

export interface MaintenanceCheckOptions {
  user?: string;
  kind: MaintenanceKind;
  /** The owner group: the migrator's one membership and the role its sessions act as. */
  owner: string;
  schema: string;
}

type Rows<T> = { rows: T[] };
const SYSTEM_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'";
const WRITES = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

const listed = (items: string[]) => (items.length <= 12 ? items : [...items.slice(0, 12), `… and ${items.length - 12} more`]);

export async function checkMaintenanceRole(knex: Knex, options: MaintenanceCheckOptions): Promise<RoleCheckReport> {
  const user = options.user ?? ((await knex.raw('select session_user as name')) as Rows<{ name: string }>).rows[0]?.name ?? '';
  const { kind, owner, schema } = options;
  const checks: RoleCheck[] = [];
  const add = (id: string, title: string, problems: string[], proof: string) =>
    checks.push({ id, title, ok: problems.length === 0, detail: problems.length === 0 ? proof : listed(problems).join('; ') });

  const role = (await readRoles(knex, [user])).get(user);
  if (!role) {
    add('role.exists', `role "${user}" exists`, [`no role named "${user}"`], '');
    return { user, ok: false, checks };
  }
  const wantCreatedb = kind === 'drill';
  const attributeProblems = [
    role.rolsuper && 'SUPERUSER',
    role.rolcreaterole && 'CREATEROLE',
    role.rolreplication && 'REPLICATION',
    role.rolbypassrls && 'BYPASSRLS',
    role.rolcreatedb && !wantCreatedb && 'CREATEDB',
  ].filter((a): a is string => Boolean(a));
  const problems = attributeProblems.map((a) => `"${user}" has ${a}`);
  if (!role.rolcanlogin) problems.push(`"${user}" cannot log in`);
  if (wantCreatedb && !role.rolcreatedb) problems.push(`"${user}" lacks CREATEDB (the drill creates its scratch database)`);
  add(
    'role.attributes',
    wantCreatedb
      ? 'LOGIN CREATEDB; not superuser; no CREATEROLE, REPLICATION or BYPASSRLS'
      : 'LOGIN; not superuser; no CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS',
    problems,
    `"${user}": LOGIN${wantCreatedb ? ' CREATEDB' : ' NOCREATEDB'} NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS`,
  );

  const closure = await readRoleClosure(knex, user);
  const allowed = kind === 'migrator' ? [owner] : [];
  const extra = closure.filter((r) => !allowed.includes(r));
  const missing = allowed.filter((r) => !closure.includes(r));
  add(
    'role.memberships',
    kind === 'migrator' ? `member of "${owner}" and nothing else` : 'member of no role',
    [...extra.map((r) => `member of "${r}"`), ...missing.map((r) => `not a member of "${r}"`)],
    kind === 'migrator' ? `member of "${owner}" only` : 'member of no role',
  );

  if (kind === 'migrator') {
    const setting = await readRoleSetting(knex, user, 'role');
    add(
      'role.acts-as-owner',
      `sessions act as "${owner}" (ALTER ROLE … SET role), so what migrations create belongs to the owner`,
      setting === owner ? [] : [`role setting is ${setting === undefined ? 'unset' : `"${setting}"`}`],
      `role = ${owner}`,
    );
    return { user, ok: checks.every((c) => c.ok), checks };
  }

  const { rows: db } = (await knex.raw(
    `select has_database_privilege(?, current_database(), 'CONNECT') as connect,
            has_database_privilege(?, current_database(), 'CREATE') or has_database_privilege(?, current_database(), 'TEMPORARY') as "create"`,
    [user, user, user],
  )) as Rows<{ connect: boolean; create: boolean }>;
  const { rows: schemaCreate } = (await knex.raw(
    `select n.nspname as name from pg_catalog.pg_namespace n where ${SYSTEM_SCHEMAS} and has_schema_privilege(?, n.oid, 'CREATE') order by 1`,
    [user],
  )) as Rows<{ name: string }>;
  const { rows: owned } = (await knex.raw(
    `select n.nspname || '.' || c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where ${SYSTEM_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and pg_has_role(?, c.relowner, 'MEMBER') order by 1`,
    [user],
  )) as Rows<{ name: string }>;
  add(
    'database.no-ddl',
    'connects; no CREATE or TEMPORARY on the database, no CREATE on any schema, owns nothing',
    [
      !db[0]?.connect && 'no CONNECT on the database',
      db[0]?.create && 'CREATE or TEMPORARY on the database',
      ...schemaCreate.map((s) => `CREATE on schema "${s.name}"`),
      owned.length > 0 && `owns ${listed(owned.map((o) => o.name)).join(', ')}`,
    ].filter((p): p is string => Boolean(p)),
    'CONNECT only',
  );

  // Every privilege the role holds on any relation outside the system schemas.
  const { rows: held } = (await knex.raw(
    `select n.nspname || '.' || c.relname as name, c.relkind as kind, p.privilege
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER'), ('USAGE')) as p(privilege)
      where ${SYSTEM_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
        and case when c.relkind = 'S' then p.privilege in ('SELECT', 'UPDATE', 'USAGE') and has_sequence_privilege(?, c.oid, p.privilege)
                 else p.privilege <> 'USAGE' and has_table_privilege(?, c.oid, p.privilege) end
      order by 1, 3`,
    [user, user],
  )) as Rows<{ name: string; kind: string; privilege: string }>;

  if (kind === 'backup') {
    const writes = held.filter(
      (h) => (WRITES as readonly string[]).includes(h.privilege) || (h.kind === 'S' && h.privilege === 'UPDATE'),
    );
    add(
      'privileges.read-only',
      'no INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER anywhere',
      writes.map((w) => `${w.privilege} on ${w.name}`),
      'reads only',
    );
    const relations = await readRelations(knex, schema);
    const unreadable = relations.filter((r) => !held.some((h) => h.name === `${schema}.${r.name}` && h.privilege === 'SELECT'));
    const { rows: usage } = (await knex.raw("select has_schema_privilege(?, ?, 'USAGE') as ok", [user, schema])) as Rows<{
      ok: boolean;
    }>;
    add(
      'privileges.needed',
      `what pg_dump needs: USAGE on "${schema}", SELECT on every table and sequence in it`,
      [!usage[0]?.ok && `no USAGE on schema "${schema}"`, ...unreadable.map((r) => `no SELECT on ${r.name}`)].filter(
        (p): p is string => Boolean(p),
      ),
      `SELECT on ${relations.length} relation(s)`,
    );
  } else if (kind === 'retention') {
    // SELECT and DELETE on the aged tables, UPDATE on their id column only (the row locks), nothing else.
    const aged = new Set(RETENTION_TABLES.map((t) => `${schema}.${t}`));
    const beyond = held.filter((h) => !(aged.has(h.name) && (h.privilege === 'SELECT' || h.privilege === 'DELETE')));
    const { rows: columns } = (await knex.raw(
      `select n.nspname || '.' || c.relname || '.' || a.attname as name
         from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where ${SYSTEM_SCHEMAS} and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
          and has_column_privilege(?, c.oid, a.attnum, 'UPDATE')
        order by 1`,
      [user],
    )) as Rows<{ name: string }>;
    const lockColumns = new Set([...aged].map((t) => `${t}.${RETENTION_LOCK_COLUMN}`));
    const extraColumns = columns.filter((c) => !lockColumns.has(c.name) && !beyond.some((b) => c.name.startsWith(`${b.name}.`)));
    add(
      'privileges.retention-only',
      `nothing beyond SELECT and DELETE on ${RETENTION_TABLES.join(', ')} (and UPDATE on their ${RETENTION_LOCK_COLUMN})`,
      [...beyond.map((b) => `${b.privilege} on ${b.name}`), ...extraColumns.map((c) => `UPDATE on column ${c.name}`)],
      'retention tables only',
    );
    const missing: string[] = [];
    const { rows: usage } = (await knex.raw("select has_schema_privilege(?, ?, 'USAGE') as ok", [user, schema])) as Rows<{
      ok: boolean;
    }>;
    if (!usage[0]?.ok) missing.push(`no USAGE on schema "${schema}"`);
    for (const table of aged) {
      for (const privilege of ['SELECT', 'DELETE'])
        if (!held.some((h) => h.name === table && h.privilege === privilege)) missing.push(`no ${privilege} on ${table}`);
      if (!columns.some((c) => c.name === `${table}.${RETENTION_LOCK_COLUMN}`))
        missing.push(`no UPDATE on ${table}.${RETENTION_LOCK_COLUMN} (SELECT … FOR UPDATE needs it)`);
    }
    add(
      'privileges.needed',
      `what secops retention run needs: USAGE on "${schema}"; SELECT, DELETE and UPDATE (${RETENTION_LOCK_COLUMN}) on ${RETENTION_TABLES.join(', ')}`,
      missing,
      `${aged.size} table(s)`,
    );
  } else {
    add(
      'privileges.none',
      'no privilege on any table, view or sequence (the drill reads only its own scratch copy)',
      held.map((h) => `${h.privilege} on ${h.name}`),
      'none held',
    );
  }
  return { user, ok: checks.every((c) => c.ok), checks };
}
