import type { Knex } from '../../../../service/src/public/db.js';

/** Reads of the system catalog shared by `roles apply`, `roles check` and `rotate-password`. */

export interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolinherit: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolcanlogin: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  rolconnlimit: number;
}

export async function readRoles(knex: Knex, names: readonly string[]): Promise<Map<string, RoleRow>> {
  const rows = (await knex('pg_catalog.pg_roles')
    .whereIn('rolname', [...names])
    .select(
      'rolname',
      'rolsuper',
      'rolinherit',
      'rolcreaterole',
      'rolcreatedb',
      'rolcanlogin',
      'rolreplication',
      'rolbypassrls',
      'rolconnlimit',
    )) as RoleRow[];
  return new Map(rows.map((r) => [r.rolname, { ...r, rolconnlimit: Number(r.rolconnlimit) }]));
}

/** Direct memberships: which roles each of `members` is granted. */
export async function readMemberships(knex: Knex, members: readonly string[]): Promise<{ member: string; role: string }[]> {
  const { rows } = (await knex.raw(
    `select m.rolname as member, g.rolname as role
       from pg_catalog.pg_auth_members a
       join pg_catalog.pg_roles m on m.oid = a.member
       join pg_catalog.pg_roles g on g.oid = a.roleid
      where m.rolname in (${members.map(() => '?').join(', ')})
      order by 1, 2`,
    [...members],
  )) as { rows: { member: string; role: string }[] };
  return rows;
}

/** Every role `user` is a member of, directly or through other roles (itself excluded). */
export async function readRoleClosure(knex: Knex, user: string): Promise<string[]> {
  const { rows } = (await knex.raw(
    `with recursive up(oid) as (
       select a.roleid from pg_catalog.pg_auth_members a join pg_catalog.pg_roles r on r.oid = a.member where r.rolname = ?
       union
       select a.roleid from pg_catalog.pg_auth_members a join up on a.member = up.oid
     )
     select r.rolname from up join pg_catalog.pg_roles r on r.oid = up.oid order by 1`,
    [user],
  )) as { rows: { rolname: string }[] };
  return rows.map((r) => r.rolname);
}

export interface RelationRow {
  name: string;
  /** r table, p partitioned table, v view, m materialized view, S sequence, f foreign table. */
  kind: string;
  owner: string;
  /** Sequences only: owned by a table column (serial/identity), so they follow the table's owner. */
  ownedByTable: boolean;
}

export async function readSchemaOwner(knex: Knex, schema: string): Promise<string | undefined> {
  const { rows } = (await knex.raw(
    'select pg_catalog.pg_get_userbyid(nspowner) as owner from pg_catalog.pg_namespace where nspname = ?',
    [schema],
  )) as { rows: { owner: string }[] };
  return rows[0]?.owner;
}

export async function readRelations(knex: Knex, schema: string): Promise<RelationRow[]> {
  const { rows } = (await knex.raw(
    `select c.relname as name, c.relkind as kind, pg_catalog.pg_get_userbyid(c.relowner) as owner,
            exists (select 1 from pg_catalog.pg_depend d
                     where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid
                       and d.refclassid = 'pg_catalog.pg_class'::regclass and d.deptype in ('a', 'i')) as "ownedByTable"
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ? and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
      order by c.relname`,
    [schema],
  )) as { rows: RelationRow[] };
  return rows;
}

/** Sequences of a table's columns (serial and identity), by table name. */
export async function readTableSequences(knex: Knex, schema: string): Promise<{ table: string; sequence: string }[]> {
  const { rows } = (await knex.raw(
    `select t.relname as "table", s.relname as sequence
       from pg_catalog.pg_depend d
       join pg_catalog.pg_class s on s.oid = d.objid and s.relkind = 'S'
       join pg_catalog.pg_class t on t.oid = d.refobjid
       join pg_catalog.pg_namespace n on n.oid = s.relnamespace
      where d.classid = 'pg_catalog.pg_class'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
        and d.deptype in ('a', 'i') and n.nspname = ?
      order by 1, 2`,
    [schema],
  )) as { rows: { table: string; sequence: string }[] };
  return rows;
}

/** A role's own database-independent setting (`ALTER ROLE … SET name = …`), if it has one. */
export async function readRoleSetting(knex: Knex, role: string, name: string): Promise<string | undefined> {
  const { rows } = (await knex.raw(
    `select s.setconfig from pg_catalog.pg_db_role_setting s join pg_catalog.pg_roles r on r.oid = s.setrole
      where r.rolname = ? and s.setdatabase = 0`,
    [role],
  )) as { rows: { setconfig: string[] | null }[] };
  const entry = (rows[0]?.setconfig ?? []).find((c) => c.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}
