import type { Knex } from 'knex';

/**
 * Operators can disable an account (`secops users disable`): a disabled account cannot sign in (403
 * `account_disabled`, only once the password checked out), refresh or recover, and its sessions are
 * revoked when it is disabled. `disabled_reason` is the operator's `--reason`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table users add column disabled_at timestamptz');
  await knex.raw('alter table users add column disabled_reason text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table users drop column disabled_reason');
  await knex.raw('alter table users drop column disabled_at');
}
