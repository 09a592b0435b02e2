import type { Knex } from 'knex';

/**
 * Idempotency keys (issue 21; IETF draft-ietf-httpapi-idempotency-key-header) on the chat's POST
 * routes. Scoped per user and route; the key itself is never stored, only its SHA-256 (`key_hash`),
 * next to the SHA-256 of the request it was first used with (`request_hash`: method, path, canonical
 * body). `in_progress` while the first request runs (its `expires_at` is then a lease: a replica that
 * died leaves no key blocked for a day), `done` with the stored answer until `expires_at`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table idempotency_keys (
      user_id uuid not null references users(id) on delete cascade,
      route text not null,
      key_hash bytea not null,
      request_hash bytea not null,
      status text not null check (status in ('in_progress', 'done')),
      response_status int,
      response_headers jsonb,
      response_body text,
      created_at timestamptz not null,
      expires_at timestamptz not null,
      primary key (user_id, route, key_hash)
    )
  `);
  await knex.raw('create index idempotency_keys_expires_idx on idempotency_keys (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table idempotency_keys');
}
