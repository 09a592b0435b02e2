import type { Knex } from '../../platform/db.js';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: Date;
}

export interface PublicUser {
  id: string;
  email: string;
  created_at: string;
}

export function toPublicUser(row: UserRow): PublicUser {
  return { id: row.id, email: row.email, created_at: new Date(row.created_at).toISOString() };
}

/** Data access for users; plain rows in and out. */
export function createUsersRepo(knex: Knex) {
  return {
    /** undefined when the (normalized) email is already taken. */
    async insert(email: string, passwordHash: string, trx: Knex = knex): Promise<UserRow | undefined> {
      const rows = await trx.raw(
        `insert into users (email, password_hash) values (?, ?)
         on conflict on constraint users_email_unique do nothing
         returning id, email, password_hash, created_at`,
        [email, passwordHash],
      );
      return rows.rows[0] as UserRow | undefined;
    },
    async findByEmail(email: string): Promise<UserRow | undefined> {
      return knex<UserRow>('users').select('id', 'email', 'password_hash', 'created_at').where({ email }).first();
    },
    async findById(id: string, trx: Knex = knex): Promise<UserRow | undefined> {
      return trx<UserRow>('users').select('id', 'email', 'password_hash', 'created_at').where({ id }).first();
    },
    /** Compare-and-swap: writes the new hash only if the stored one is still `expected`. */
    async replacePasswordHash(id: string, expected: string, next: string, trx: Knex = knex): Promise<boolean> {
      const n = await trx('users')
        .where({ id, password_hash: expected })
        .update({ password_hash: next, updated_at: trx.fn.now() });
      return n === 1;
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
