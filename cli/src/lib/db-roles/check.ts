import type { Knex } from '../../../../service/src/public/db.js';
import { readRelations, readRoleClosure, readRoles } from './catalog.js';
import { classifyTable } from './layout.js';

export interface RoleCheck {
  /** Stable id, e.g. `role.attributes`, `audit.append-only`. */
  id: string;
  title: string;
  ok: boolean;
  /** What was seen: the proof, or every deviation. */
  detail: string;
}

export interface RoleCheckOptions {
  /** The role to inspect (default: current_user). */
  user?: string;
  /** The group whose privileges the user may inherit, and no other. */
  runtime: string;
  schema: string;
}

export interface RoleCheckReport {
  user: string;
  ok: boolean;
  checks: RoleCheck[];
}

const SYSTEM_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'";

type Rows<T> = { rows: T[] };

/** Long deviation lists (a superuser fails on every table) are cut to keep one line readable. */
const MAX_LISTED = 12;
function listed(items: string[]): string[] {
  return items.length <= MAX_LISTED ? items : [...items.slice(0, MAX_LISTED), `… and ${items.length - MAX_LISTED} more`];
}

/**
 * Does `user` hold no more than the runtime role allows, and what the service needs? Read-only; the
 * privilege functions (has_table_privilege …) count inherited and PUBLIC grants, as the server would.
 */
export async function checkRole(knex: Knex, options: RoleCheckOptions): Promise<RoleCheckReport> {
  const user = options.user ?? ((await knex.raw('select current_user as name')) as Rows<{ name: string }>).rows[0]?.name ?? '';
  const { runtime, schema } = options;
  const checks: RoleCheck[] = [];
  const add = (id: string, title: string, problems: string[], proof: string) =>
    checks.push({ id, title, ok: problems.length === 0, detail: problems.length === 0 ? proof : problems.join('; ') });

  const role = (await readRoles(knex, [user])).get(user);
  if (!role) {
    add('role.exists', `role "${user}" exists`, [`no role named "${user}"`], '');
    return { user, ok: false, checks };
  }
  const attributes = [
    role.rolsuper && 'SUPERUSER',
    role.rolcreaterole && 'CREATEROLE',
    role.rolcreatedb && 'CREATEDB',
    role.rolreplication && 'REPLICATION',
    role.rolbypassrls && 'BYPASSRLS',
  ].filter((a): a is string => Boolean(a));
  add(
    'role.attributes',
    'not superuser; no CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS',
    attributes.length > 0 ? [`"${user}" has ${attributes.join(', ')}`] : [],
    `"${user}": NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS`,
  );
  add(
    'role.connection-limit',
    'a connection limit is set',
    role.rolconnlimit < 0 ? ['no connection limit (CONNECTION LIMIT -1)'] : [],
    `CONNECTION LIMIT ${role.rolconnlimit}`,
  );
  const closure = await readRoleClosure(knex, user);
  const others = closure.filter((r) => r !== runtime);
  add(
    'role.memberships',
    `member of no role other than "${runtime}"`,
    others.length > 0 ? [`also a member of ${others.map((r) => `"${r}"`).join(', ')}`] : [],
    closure.includes(runtime) ? `member of "${runtime}" only` : 'member of no role',
  );

  const database = ((await knex.raw('select current_database() as name')) as Rows<{ name: string }>).rows[0]?.name as string;
  const { rows: dbPriv } = (await knex.raw(
    `select has_database_privilege(?, current_database(), 'CREATE') as "create",
            has_database_privilege(?, current_database(), 'TEMPORARY') as temp,
            has_database_privilege(?, current_database(), 'CONNECT') as connect`,
    [user, user, user],
  )) as Rows<{ create: boolean; temp: boolean; connect: boolean }>;
  const db = dbPriv[0] as { create: boolean; temp: boolean; connect: boolean };
  add(
    'database.no-create',
    `no CREATE or TEMPORARY on database "${database}"`,
    [db.create && `CREATE on database "${database}"`, db.temp && `TEMPORARY on database "${database}"`].filter((p): p is string =>
      Boolean(p),
    ),
    'neither CREATE nor TEMPORARY',
  );

  const { rows: schemaCreate } = (await knex.raw(
    `select n.nspname as name from pg_catalog.pg_namespace n
      where ${SYSTEM_SCHEMAS} and has_schema_privilege(?, n.oid, 'CREATE') order by 1`,
    [user],
  )) as Rows<{ name: string }>;
  add(
    'schema.no-create',
    'no CREATE on any schema (no DDL)',
    schemaCreate.map((s) => `CREATE on schema "${s.name}"`),
    'CREATE on no schema',
  );

  const { rows: owned } = (await knex.raw(
    `select n.nspname || '.' || c.relname as name from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where ${SYSTEM_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and pg_has_role(?, c.relowner, 'MEMBER') order by 1`,
    [user],
  )) as Rows<{ name: string }>;
  add(
    'tables.not-owner',
    'owns no table, view or sequence (directly or through a role)',
    owned.length > 0 ? [`owns ${listed(owned.map((o) => o.name)).join(', ')}`] : [],
    'owns nothing',
  );

  const { rows: dangerous } = (await knex.raw(
    `select n.nspname || '.' || c.relname as name, p.privilege
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      cross join (values ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) as p(privilege)
      where ${SYSTEM_SCHEMAS} and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and (has_table_privilege(?, c.oid, p.privilege)
             or (p.privilege = 'REFERENCES' and has_any_column_privilege(?, c.oid, 'REFERENCES')))
      order by 1, 2`,
    [user, user],
  )) as Rows<{ name: string; privilege: string }>;
  add(
    'tables.no-truncate-references-trigger',
    'no TRUNCATE, REFERENCES or TRIGGER on any table',
    listed(dangerous.map((d) => `${d.privilege} on ${d.name}`)),
    'none held',
  );

  const relations = await readRelations(knex, schema);
  const tables = relations.filter((r) => r.kind === 'r' || r.kind === 'p');
  const privileges = async (table: string) =>
    (
      (await knex.raw(
        `select has_table_privilege(?, c.oid, 'SELECT') as "select",
              has_table_privilege(?, c.oid, 'INSERT') as "insert",
              has_table_privilege(?, c.oid, 'UPDATE') or has_any_column_privilege(?, c.oid, 'UPDATE') as "update",
              has_table_privilege(?, c.oid, 'DELETE') as "delete",
              has_table_privilege(?, c.oid, 'TRUNCATE') as "truncate"
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ? and c.relname = ?`,
        [user, user, user, user, user, user, schema, table],
      )) as Rows<Record<'select' | 'insert' | 'update' | 'delete' | 'truncate', boolean>>
    ).rows[0];

  const appendOnly = tables.filter((t) => classifyTable(t.name) === 'append-only');
  const appendProblems: string[] = [];
  const appendNeeds: string[] = [];
  for (const t of appendOnly) {
    const p = await privileges(t.name);
    if (!p) continue;
    for (const k of ['update', 'delete', 'truncate'] as const) if (p[k]) appendProblems.push(`${k.toUpperCase()} on ${t.name}`);
    for (const k of ['select', 'insert'] as const) if (!p[k]) appendNeeds.push(`no ${k.toUpperCase()} on ${t.name}`);
  }
  const appendNames = appendOnly.map((t) => t.name).join(', ') || 'none present';
  add('audit.append-only', `cannot UPDATE, DELETE or TRUNCATE ${appendNames}`, appendProblems, 'append-only');

  const needs: string[] = [];
  const { rows: usage } = (await knex.raw("select has_schema_privilege(?, ?, 'USAGE') as ok", [user, schema])) as Rows<{
    ok: boolean;
  }>;
  if (!db.connect) needs.push(`no CONNECT on database "${database}"`);
  if (!usage[0]?.ok) needs.push(`no USAGE on schema "${schema}"`);
  const dml = tables.filter((t) => classifyTable(t.name) === 'dml');
  for (const t of dml) {
    const p = await privileges(t.name);
    if (!p) continue;
    const missing = (['select', 'insert', 'update', 'delete'] as const).filter((k) => !p[k]).map((k) => k.toUpperCase());
    if (missing.length > 0) needs.push(`no ${missing.join('/')} on ${t.name}`);
  }
  for (const t of tables.filter((x) => classifyTable(x.name) === 'read-only')) {
    if (!(await privileges(t.name))?.select) needs.push(`no SELECT on ${t.name} (secops readiness reads the migration state)`);
  }
  // The functions the migrations define (a login's writes: open_password_login), not an extension's.
  const { rows: functions } = (await knex.raw(
    `select p.oid::regprocedure::text as name, has_function_privilege(?, p.oid, 'EXECUTE') as ok
       from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where n.nspname = ?
        and not exists (select 1 from pg_catalog.pg_depend d
                         where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
      order by 1`,
    [user, schema],
  )) as Rows<{ name: string; ok: boolean }>;
  for (const f of functions) if (!f.ok) needs.push(`no EXECUTE on ${f.name}`);
  add(
    'privileges.needed',
    `what the service needs: CONNECT, USAGE on "${schema}", DML on the app tables, SELECT/INSERT on ${appendNames}, EXECUTE on its functions`,
    listed([...needs, ...appendNeeds]),
    `DML on ${dml.length} app table(s), SELECT/INSERT on ${appendNames}, EXECUTE on ${functions.length} function(s)`,
  );

  return { user, ok: checks.every((c) => c.ok), checks };
}
