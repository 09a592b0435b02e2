import type { Knex } from 'knex';

/**
 * Token budgets and the usage ledger (issue 21).
 *
 * `model_budgets`: per-user overrides of MODEL_TOKENS_PER_DAY / _PER_MONTH (null = the setting,
 * 0 = unlimited), written by `secops users budget`, read by the service before each model call.
 *
 * `model_usage`: one append-only row per model call. No foreign keys on purpose: the ledger outlives
 * a deleted conversation or account (like audit_events), and a cascade would need the DELETE this
 * table refuses to everyone but its owner (the revoke below, as in 20261206000600).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('model_budgets', (t) => {
    t.uuid('user_id').primary().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('tokens_per_day').nullable();
    t.bigInteger('tokens_per_month').nullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('updated_by').nullable();
  });
  await knex.raw(
    'alter table model_budgets add constraint model_budgets_non_negative check ((tokens_per_day is null or tokens_per_day >= 0) and (tokens_per_month is null or tokens_per_month >= 0))',
  );
  await knex.schema.createTable('model_usage', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('user_id').notNullable();
    t.uuid('conversation_id').nullable();
    t.uuid('message_id').nullable();
    t.text('provider').notNullable();
    t.text('model').notNullable();
    t.integer('prompt_tokens').notNullable();
    t.integer('completion_tokens').notNullable();
    t.boolean('estimated').notNullable();
    t.text('outcome').notNullable();
    t.integer('latency_ms').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    "alter table model_usage add constraint model_usage_outcome check (outcome in ('ok', 'error', 'timeout', 'aborted')), add constraint model_usage_tokens check (prompt_tokens >= 0 and completion_tokens >= 0 and latency_ms >= 0)",
  );
  // The budget windows and `GET /v1/usage` sum one user's rows since a UTC day or month start.
  await knex.raw('create index model_usage_user_created_idx on model_usage (user_id, created_at)');
  await knex.raw(`
    do $$
    declare r record;
    begin
      for r in
        select distinct a.grantee from pg_class c, aclexplode(c.relacl) a
         where c.oid = to_regclass('model_usage') and a.privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE') and a.grantee <> c.relowner
      loop
        if r.grantee = 0 then
          execute 'revoke update, delete, truncate on model_usage from public';
        else
          execute format('revoke update, delete, truncate on model_usage from %I', pg_get_userbyid(r.grantee));
        end if;
      end loop;
    end $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('model_usage');
  await knex.schema.dropTableIfExists('model_budgets');
}
