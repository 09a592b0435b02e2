import type { Knex } from 'knex';

/**
 * Conversations belong to a user; messages to a conversation (deleted with it).
 * Indexes serve the two keyset-paginated lists: a user's conversations by (updated_at, id) and
 * a conversation's messages by (created_at, id).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table conversations (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      title text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint conversations_title_length check (title is null or char_length(title) <= 200)
    )
  `);
  await knex.raw('create index conversations_user_updated_idx on conversations (user_id, updated_at desc, id desc)');
  await knex.raw(`
    create table messages (
      id uuid primary key default gen_random_uuid(),
      conversation_id uuid not null references conversations(id) on delete cascade,
      role text not null,
      content text not null,
      status text not null default 'complete',
      created_at timestamptz not null default now(),
      constraint messages_role_check check (role in ('user', 'assistant')),
      constraint messages_status_check check (status in ('complete', 'partial', 'failed')),
      constraint messages_content_length check (char_length(content) <= 200000)
    )
  `);
  await knex.raw('create index messages_conversation_created_idx on messages (conversation_id, created_at, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table messages');
  await knex.raw('drop table conversations');
}
