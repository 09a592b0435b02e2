import type { Knex } from 'knex';

/**
 * reply_events is kept only as long as a client may still resume a finished reply
 * (REPLY_EVENTS_RETENTION_SECONDS, issue 21): the purge deletes the oldest events of finished
 * replies in batches, which this index keeps to the rows it deletes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index reply_events_created_at_idx on reply_events (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index reply_events_created_at_idx');
}
