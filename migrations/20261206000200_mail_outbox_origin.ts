import type { Knex } from 'knex';

/**
 * The request and account that caused each mail, so its delivery (sent, dead-lettered) is audited with
 * the request id of the flow that asked for it. No foreign key: a mail outlives a deleted account (the
 * deletion's own confirmation).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table mail_outbox add column request_id text');
  await knex.raw('alter table mail_outbox add column user_id uuid');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table mail_outbox drop column user_id');
  await knex.raw('alter table mail_outbox drop column request_id');
}
