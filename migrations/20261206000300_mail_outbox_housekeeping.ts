import type { Knex } from 'knex';

/**
 * Indexes for the outbox's housekeeping: counting dead letters (the mail_outbox_dead gauge, every pass
 * of every replica) and finding sent mails old enough to delete (they hold addresses; the sender keeps
 * them MAIL_SENT_RETENTION_DAYS for diagnosis, then deletes them) — without scanning the whole table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("create index mail_outbox_dead_idx on mail_outbox (id) where status = 'dead'");
  await knex.raw("create index mail_outbox_sent_idx on mail_outbox (sent_at) where status = 'sent'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index mail_outbox_sent_idx');
  await knex.raw('drop index mail_outbox_dead_idx');
}
