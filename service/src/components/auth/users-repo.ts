import type { Knex } from '../../platform/db.js';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: Date;
  email_verified_at: Date | null;
  disabled_at: Date | null;
}

const COLUMNS = ['id', 'email', 'password_hash', 'created_at', 'email_verified_at', 'disabled_at'] as const;

export interface PublicUser {
  id: string;
  email: string;
  created_at: string;
}

export function toPublicUser(row: UserRow): PublicUser {
  return { id: row.id, email: row.email, created_at: new Date(row.created_at).toISOString() };
}

/** GET /v1/me's row: the account and whether each second factor is set up, in one statement. */
export interface AccountRow {
  id: string;
  email: string;
  created_at: Date;
  email_verified: boolean;
  totp: boolean;
  webauthn: boolean;
}

/** GET /v1/me's body. */
export interface AccountView extends PublicUser {
  email_verified: boolean;
  mfa: { totp: boolean; webauthn: boolean };
}

export function toAccountView(row: AccountRow): AccountView {
  return {
    id: row.id,
    email: row.email,
    created_at: new Date(row.created_at).toISOString(),
    email_verified: row.email_verified,
    mfa: { totp: row.totp, webauthn: row.webauthn },
  };
}

/**
 * One indexed lookup and two EXISTS probes on (user_id) indexes, answered in one round trip: the
 * authenticated read every client makes most often costs one query, not three (issue 24).
 */
const SECOND_FACTORS = `exists (select 1 from mfa_totp t where t.user_id = u.id and t.confirmed_at is not null) as totp,
       exists (select 1 from webauthn_credentials w where w.user_id = u.id) as webauthn`;
const ACCOUNT_VIEW = `select u.id, u.email, u.created_at, u.email_verified_at is not null as email_verified,
       ${SECOND_FACTORS}
  from users u where u.id = ?`;
/** The same two probes alone: what every login asks once the password is verified, in one round trip. */
const SECOND_FACTORS_OF = `select ${SECOND_FACTORS} from users u where u.id = ?`;

/** Data access for users; plain rows in and out. */
export function createUsersRepo(knex: Knex) {
  async function findByEmail(email: string): Promise<UserRow | undefined> {
    return knex<UserRow>('users').select(...COLUMNS).where({ email }).first();
  }
  return {
    /** undefined when the (normalized) email is already taken. */
    async insert(email: string, passwordHash: string, trx: Knex = knex): Promise<UserRow | undefined> {
      const rows = await trx.raw(
        `insert into users (email, password_hash) values (?, ?)
         on conflict on constraint users_email_unique do nothing
         returning id, email, password_hash, created_at, email_verified_at, disabled_at`,
        [email, passwordHash],
      );
      return rows.rows[0] as UserRow | undefined;
    },
    findByEmail,
    /**
     * A login's read: the account by its (normalized) email and, given the hash of a device token the
     * client presented, that device of this account (marked used at `now`) — one round trip.
     */
    async findForLogin(email: string, device?: { hash: Buffer; now: Date }): Promise<{ user: UserRow; deviceId: string | undefined } | undefined> {
      if (!device) {
        const user = await findByEmail(email);
        return user && { user, deviceId: undefined };
      }
      const r = await knex.raw(
        `with d as (
           update device_tokens set last_used_at = ?
            where token_hash = ? and user_id = (select id from users where email = ?)
           returning id
         )
         select ${COLUMNS.join(', ')}, (select id from d) as device_id from users where email = ?`,
        [device.now, device.hash, email, email],
      );
      const row = r.rows[0] as (UserRow & { device_id: string | null }) | undefined;
      if (!row) return undefined;
      const { device_id, ...user } = row;
      return { user, deviceId: device_id ?? undefined };
    },
    async accountView(id: string): Promise<AccountRow | undefined> {
      return (await knex.raw(ACCOUNT_VIEW, [id])).rows[0] as AccountRow | undefined;
    },
    /** Which second factors the account holds (a confirmed TOTP, a passkey): GET /v1/me's `mfa` flags. */
    async secondFactors(id: string): Promise<{ totp: boolean; webauthn: boolean }> {
      const row = (await knex.raw(SECOND_FACTORS_OF, [id])).rows[0] as { totp: boolean; webauthn: boolean } | undefined;
      return row ?? { totp: false, webauthn: false };
    },
    async findById(id: string, trx: Knex = knex): Promise<UserRow | undefined> {
      return trx<UserRow>('users').select(...COLUMNS).where({ id }).first();
    },
    /** Compare-and-swap: writes the new hash only if the stored one is still `expected`. */
    async replacePasswordHash(id: string, expected: string, next: string, trx: Knex = knex): Promise<boolean> {
      const n = await trx('users')
        .where({ id, password_hash: expected })
        .update({ password_hash: next, updated_at: trx.fn.now() });
      return n === 1;
    },
    /** The address `email` is proved (a token sent to it came back): false when the account's address changed meanwhile. */
    async markVerified(trx: Knex, id: string, email: string, at: Date): Promise<boolean> {
      const n = await trx('users').where({ id, email }).update({ email_verified_at: trx.raw('coalesce(email_verified_at, ?)', [at]), updated_at: at });
      return n === 1;
    },
    /** A password set by a reset: whatever the stored hash was. */
    async setPasswordHash(trx: Knex, id: string, hash: string, at: Date): Promise<boolean> {
      const n = await trx('users').where({ id }).update({ password_hash: hash, updated_at: at });
      return n === 1;
    },
    /**
     * Moves the account from `from` to `to` (proved, so verified at `at`); false when the account's
     * address is no longer `from`, or `to` belongs to another account by now.
     */
    async changeEmail(trx: Knex, id: string, from: string, to: string, at: Date): Promise<boolean> {
      const r = await trx.raw(
        `update users set email = ?, email_verified_at = ?, updated_at = ?
          where id = ? and email = ? and not exists (select 1 from users o where o.email = ? and o.id <> ?)`,
        [to, at, at, id, from, to, id],
      );
      return r.rowCount === 1;
    },
    /** Deletes the account; its sessions, tokens, conversations and messages go with it (foreign keys). */
    async delete(trx: Knex, id: string): Promise<boolean> {
      return (await trx('users').where({ id }).delete()) === 1;
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
