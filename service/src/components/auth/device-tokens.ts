import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from '../../platform/db.js';

/** Known devices kept per account; the least recently used beyond it are forgotten. */
export const MAX_DEVICES_PER_USER = 20;

export function hashDeviceToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A new device token (what the client keeps) and its hash (what is stored). */
export function newDeviceToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashDeviceToken(token) };
}

/** 32 bytes in base64url: exactly 43 characters. Anything else is not looked up. */
export function looksLikeDeviceToken(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/**
 * Device tokens (migrations/20261206000400_device_tokens.ts): 256 random bits handed to a device that
 * signed in, stored as SHA-256 and found by it. They prove nothing on their own — the password is still
 * needed — they only tell the lockout that this attempt comes from a device the owner used before.
 */
export function createDeviceTokensRepo(knex: Knex) {
  return {
    /** The device id when `token` is one of `userId`'s devices (and marks it used); undefined otherwise. */
    async recognise(userId: string, token: string, now: Date): Promise<string | undefined> {
      const rows = (await knex('device_tokens')
        .where({ user_id: userId, token_hash: hashDeviceToken(token) })
        .update({ last_used_at: now })
        .returning('id')) as { id: string }[];
      return rows[0]?.id;
    },
    /**
     * A new device token for `userId`; the account's least recently used devices beyond the cap are
     * forgotten. One statement (every login from a new device runs it): the delete reads the rows as
     * they were before the insert, so it keeps the cap − 1 most recent of them and never the new one.
     */
    async issue(userId: string, now: Date, trx: Knex = knex): Promise<string> {
      const { token, hash } = newDeviceToken();
      await trx.raw(
        `with issued as (
           insert into device_tokens (user_id, token_hash, created_at, last_used_at) values (?, ?, ?, ?)
         )
         delete from device_tokens where id in (
           select id from device_tokens where user_id = ? order by last_used_at desc, created_at desc offset ?
         )`,
        [userId, hash, now, now, userId, MAX_DEVICES_PER_USER - 1],
      );
      return token;
    },
  };
}

export type DeviceTokensRepo = ReturnType<typeof createDeviceTokensRepo>;
