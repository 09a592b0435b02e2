import type { Knex } from 'knex';

/**
 * Second factors (issue 20). TOTP: one per user, its secret encrypted with MFA_ENCRYPTION_KEY
 * (AES-256-GCM; `key_id` names the keyring entry that encrypted it, so old keys keep decrypting while
 * `secops mfa reencrypt` moves every row to the newest); pending until the first valid code confirms
 * it; `last_step` is the newest RFC 6238 time step accepted, so no code is accepted twice. Recovery
 * codes: SHA-256 of each single-use code. Passkeys: WebAuthn credentials, several per user.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table mfa_totp (
      user_id uuid primary key references users(id) on delete cascade,
      secret_ciphertext bytea not null,
      key_id text not null,
      created_at timestamptz not null default now(),
      confirmed_at timestamptz,
      last_step bigint not null default 0
    )
  `);
  await knex.raw('create index mfa_totp_key_idx on mfa_totp (key_id)');
  await knex.raw(`
    create table mfa_recovery_codes (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      code_hash bytea not null,
      created_at timestamptz not null default now(),
      used_at timestamptz,
      constraint mfa_recovery_codes_hash_unique unique (user_id, code_hash)
    )
  `);
  await knex.raw('create index mfa_recovery_codes_user_idx on mfa_recovery_codes (user_id) where used_at is null');
  await knex.raw(`
    create table webauthn_credentials (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users(id) on delete cascade,
      credential_id text not null,
      public_key bytea not null,
      sign_count bigint not null default 0,
      transports text[] not null default '{}',
      device_type text not null check (device_type in ('singleDevice', 'multiDevice')),
      backed_up boolean not null default false,
      aaguid text,
      name text not null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      constraint webauthn_credentials_credential_unique unique (credential_id)
    )
  `);
  await knex.raw('create index webauthn_credentials_user_idx on webauthn_credentials (user_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table webauthn_credentials');
  await knex.raw('drop table mfa_recovery_codes');
  await knex.raw('drop table mfa_totp');
}
