import type { Knex } from 'knex';

/**
 * Known devices (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a login or signup hands
 * out a device token, stored only as its SHA-256 and bound to the account. A login that presents a valid
 * one for that account is limited per device and exempt from the per-account cap, so no attacker can
 * lock the owner's known devices out.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table device_tokens (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      token_hash bytea not null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz not null default now(),
      constraint device_tokens_hash_unique unique (token_hash)
    )
  `);
  await knex.raw('create index device_tokens_user_idx on device_tokens (user_id, last_used_at desc)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table device_tokens');
}
