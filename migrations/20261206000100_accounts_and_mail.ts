import type { Knex } from 'knex';

/**
 * Accounts people can prove and recover (issue 18):
 * - `users.email_verified_at`: when the address was proved (a verification, reset or email-change token
 *   delivered to it was used). Accounts created before this migration are taken as verified as of their
 *   creation: they were the only way to hold an address until now, and locking every existing user out
 *   until they verify would be an outage, not a control (docs/api.md "Email verification").
 * - `sessions.auth_time` / `sessions.amr`: when and how the user last proved a factor in this session
 *   (RFC 8176 methods); access tokens carry them, sensitive operations ask for a recent `auth_time`.
 * - `account_tokens`: one-time tokens sent by mail, stored only as their SHA-256 (a token is 256 random
 *   bits: a fast hash is enough and lets the lookup be by hash). Single use (`consumed_at`), expiring,
 *   superseded by a newer one of the same purpose (`invalidated_at`), all invalidated by a password change.
 * - `mail_outbox`: the transactional outbox. A mail is a row written in the same transaction as the change
 *   that causes it; the sender claims rows with FOR UPDATE SKIP LOCKED (any number of replicas), sends,
 *   retries with backoff and dead-letters after MAIL_MAX_ATTEMPTS. Bodies hold one-time links, so they are
 *   wiped once a mail is sent or dead-lettered.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table users add column email_verified_at timestamptz');
  await knex.raw('update users set email_verified_at = created_at');
  await knex.raw(`alter table sessions add column auth_time timestamptz not null default now()`);
  await knex.raw(`alter table sessions add column amr text[] not null default '{pwd}'`);
  await knex.raw(`
    create table account_tokens (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      purpose text not null,
      token_hash bytea not null,
      email text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      consumed_at timestamptz,
      invalidated_at timestamptz,
      constraint account_tokens_hash_unique unique (token_hash),
      constraint account_tokens_purpose check (purpose in ('verify_email', 'reset_password', 'change_email'))
    )
  `);
  await knex.raw(
    'create index account_tokens_live_idx on account_tokens (user_id, purpose) where consumed_at is null and invalidated_at is null',
  );
  await knex.raw(`
    create table mail_outbox (
      id bigint generated always as identity primary key,
      created_at timestamptz not null default now(),
      template text not null,
      to_address text not null,
      subject text not null,
      text_body text,
      html_body text,
      message_id text not null,
      status text not null default 'pending',
      attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      claim_id uuid,
      locked_until timestamptz,
      last_error text,
      sent_at timestamptz,
      constraint mail_outbox_status check (status in ('pending', 'sending', 'sent', 'dead'))
    )
  `);
  await knex.raw("create index mail_outbox_due_idx on mail_outbox (next_attempt_at, id) where status in ('pending', 'sending')");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table mail_outbox');
  await knex.raw('drop table account_tokens');
  await knex.raw('alter table sessions drop column amr');
  await knex.raw('alter table sessions drop column auth_time');
  await knex.raw('alter table users drop column email_verified_at');
}
