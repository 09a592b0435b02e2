import type { Knex } from 'knex';

/**
 * An audit row's request_id is always the service's own (issue 26, hostile review): a client could
 * otherwise plant ids of its choosing — another request's, to muddle an investigation — in the trail.
 * What a client sent as X-Request-Id is kept beside it, bounded, for correlating with the client's
 * own logs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table audit_events add column client_request_id text
    constraint audit_events_client_request_id_bounded check (char_length(client_request_id) <= 128)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table audit_events drop column client_request_id');
}
