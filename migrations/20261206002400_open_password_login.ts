import type { Knex } from 'knex';

/**
 * `open_password_login`: everything a password login writes once the password is verified, in one
 * round trip (issue 24: every statement is a syscall pair, a parse and a commit taken from the
 * hashes' CPU in a login flood). Before, it was three statements and a read:
 *   1. the account's second factors (a second factor means no session yet: the MFA step comes first);
 *   2. the session and its first refresh token, only while the password hash is still the one verified;
 *   3. the sessions beyond MAX_SESSIONS_PER_USER, least recently used first, revoked (`evicted`);
 *   4. a new device token, and the account's least recently used devices beyond the cap forgotten.
 *
 * Why a function and not one statement: the cap must hold under concurrent logins of one user. The
 * user's row is locked first (FOR NO KEY UPDATE: a password change conflicts with it, foreign-key
 * checks do not), so concurrent logins of one account take turns; each later statement here takes a
 * new snapshot under READ COMMITTED and sees the sessions the previous login committed. Data-modifying
 * CTEs of one statement would all share the statement's snapshot, and N concurrent logins could leave
 * the cap exceeded by N − 1.
 *
 * SECURITY INVOKER (the default): it runs with the caller's privileges on these tables, which the
 * runtime role already holds; EXECUTE is PUBLIC's by default.
 *
 * Outcomes: `opened` (with the session id and the ids evicted), `password_changed` (the hash is no
 * longer the one verified: a password change committed during the verify; nothing written),
 * `second_factor` (the account has a confirmed TOTP or a passkey; nothing written).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function open_password_login(
      p_user_id uuid, p_password_hash text, p_ip text, p_user_agent text,
      p_expires_at timestamptz, p_auth_time timestamptz, p_amr text[], p_refresh_hash bytea,
      p_now timestamptz, p_max_sessions integer, p_device_hash bytea, p_max_devices integer,
      out outcome text, out opened_session uuid, out evicted_sessions uuid[]
    ) language plpgsql volatile as $fn$
    declare
      v_session uuid;
    begin
      perform 1 from users where id = p_user_id and password_hash = p_password_hash for no key update;
      if not found then
        outcome := 'password_changed';
        return;
      end if;
      if exists (select 1 from mfa_totp where user_id = p_user_id and confirmed_at is not null)
         or exists (select 1 from webauthn_credentials where user_id = p_user_id) then
        outcome := 'second_factor';
        return;
      end if;
      insert into sessions (user_id, ip, user_agent, expires_at, auth_time, amr)
        values (p_user_id, p_ip, p_user_agent, p_expires_at, p_auth_time, p_amr)
        returning id into v_session;
      insert into refresh_tokens (session_id, token_hash, expires_at) values (v_session, p_refresh_hash, p_expires_at);
      with e as (
        update sessions set revoked_at = p_now, revoked_reason = 'evicted'
         where id in (
           select id from sessions where user_id = p_user_id and revoked_at is null and expires_at > p_now
            order by last_used_at desc, created_at desc, id desc offset p_max_sessions
         )
        returning id
      )
      select coalesce(array_agg(id), '{}') into evicted_sessions from e;
      if p_device_hash is not null then
        -- The delete reads the rows as they were before the insert: it keeps the cap − 1 most recent
        -- of them, never the new device.
        with issued as (
          insert into device_tokens (user_id, token_hash, created_at, last_used_at) values (p_user_id, p_device_hash, p_now, p_now)
        )
        delete from device_tokens where id in (
          select id from device_tokens where user_id = p_user_id order by last_used_at desc, created_at desc offset p_max_devices - 1
        );
      end if;
      outcome := 'opened';
      opened_session := v_session;
    end
    $fn$
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists open_password_login(uuid, text, text, text, timestamptz, timestamptz, text[], bytea, timestamptz, integer, bytea, integer)');
}
