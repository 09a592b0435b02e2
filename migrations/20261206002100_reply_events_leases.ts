import type { Knex } from 'knex';

/**
 * Resumable replies (issue 21). `reply_events` holds a reply's deltas in order, one row each, so a
 * client that lost its stream can be sent exactly the ones after its `Last-Event-ID` (the row's seq).
 * `generating_by` and `lease_expires_at` on the assistant message say which replica is writing it and
 * until when; the orphan sweeper fails a reply whose lease ran out (its replica died). The partial
 * index keeps the sweep to the few rows being generated.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table messages add column generating_by text');
  await knex.raw('alter table messages add column lease_expires_at timestamptz');
  await knex.raw('create index messages_generating_lease_idx on messages (lease_expires_at) where generating_by is not null');
  await knex.raw(`
    create table reply_events (
      message_id uuid not null references messages(id) on delete cascade,
      seq integer not null,
      text text not null,
      created_at timestamptz not null default now(),
      primary key (message_id, seq),
      constraint reply_events_seq_positive check (seq > 0)
    )
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table reply_events');
  await knex.raw('drop index messages_generating_lease_idx');
  await knex.raw('alter table messages drop column lease_expires_at');
  await knex.raw('alter table messages drop column generating_by');
}
