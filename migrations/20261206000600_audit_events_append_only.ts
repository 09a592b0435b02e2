import type { Knex } from 'knex';

/**
 * `audit_events` is append-only for everyone but its owner. `secops db roles apply` grants the runtime
 * role INSERT and SELECT only — but run before the migrations, its default privileges (DML on every
 * table the owner creates later) gave the runtime role UPDATE and DELETE on `audit_events` when the
 * migration created it (issue 19). This takes UPDATE, DELETE and TRUNCATE back from every role but the
 * owner, whatever order apply and the migrations ran in; later runs of apply keep it so.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    do $$
    declare r record;
    begin
      for r in
        select distinct a.grantee from pg_class c, aclexplode(c.relacl) a
         where c.oid = to_regclass('audit_events') and a.privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE') and a.grantee <> c.relowner
      loop
        if r.grantee = 0 then
          execute 'revoke update, delete, truncate on audit_events from public';
        else
          execute format('revoke update, delete, truncate on audit_events from %I', pg_get_userbyid(r.grantee));
        end if;
      end loop;
    end $$;
  `);
}

/** Nothing to restore: no role should have had these privileges (re-running apply sets the intended grants). */
export async function down(_knex: Knex): Promise<void> {}
