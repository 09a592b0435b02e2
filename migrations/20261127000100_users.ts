import type { Knex } from 'knex';

/** Accounts. `email` holds the normalized address (NFKC, lowercased); uniqueness is on that form. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table users (
      id uuid primary key default gen_random_uuid(),
      email text not null,
      password_hash text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint users_email_unique unique (email),
      constraint users_email_length check (octet_length(email) between 3 and 254)
    )
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table users');
}
