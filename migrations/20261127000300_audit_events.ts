import type { Knex } from 'knex';

/**
 * Append-only security audit trail. No foreign key to users: events outlive the accounts they
 * describe. `email_hash` identifies failures for unknown accounts without storing the address.
 * The runtime DB role gets INSERT/SELECT only on this table (see `secops db roles apply`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table audit_events (
      id bigint generated always as identity primary key,
      occurred_at timestamptz not null default now(),
      type text not null,
      user_id uuid,
      email_hash text,
      ip text,
      user_agent text,
      request_id text,
      details jsonb not null default '{}'::jsonb
    )
  `);
  await knex.raw('create index audit_events_occurred_at_idx on audit_events (occurred_at)');
  await knex.raw('create index audit_events_user_idx on audit_events (user_id, occurred_at) where user_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table audit_events');
}
