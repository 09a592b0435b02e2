import type { Knex } from 'knex';

/**
 * A session is one login on one device. Refresh tokens chain off it; access tokens carry its id
 * (`sid`), so revoking the session revokes everything descended from that login.
 * Refresh tokens are stored only as a keyed hash; `rotated_at` marks a token already exchanged.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table sessions (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      created_at timestamptz not null default now(),
      last_used_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz,
      revoked_reason text,
      ip text,
      user_agent text
    )
  `);
  await knex.raw('create index sessions_user_active_idx on sessions (user_id, created_at desc) where revoked_at is null');
  await knex.raw(`
    create table refresh_tokens (
      id uuid primary key default gen_random_uuid(),
      session_id uuid not null references sessions(id) on delete cascade,
      token_hash bytea not null,
      parent_id uuid references refresh_tokens(id) on delete cascade,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      rotated_at timestamptz,
      constraint refresh_tokens_hash_unique unique (token_hash)
    )
  `);
  await knex.raw('create index refresh_tokens_session_idx on refresh_tokens (session_id)');
  await knex.raw('create index refresh_tokens_parent_idx on refresh_tokens (parent_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table refresh_tokens');
  await knex.raw('drop table sessions');
}
