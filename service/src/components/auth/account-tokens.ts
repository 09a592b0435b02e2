import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from '../../platform/db.js';

/**
 * One-time tokens sent by mail (verification, password reset, email change): 256 bits from the
 * CSPRNG, base64url. The database holds only their SHA-256, and a token is found by that hash through
 * a unique index — the presented token is never compared with a stored one character by character, so
 * there is no timing to learn from. Single use (consumed by one UPDATE: of two concurrent confirms one
 * wins), expiring, superseded by a newer token of the same purpose, and all of a user's are invalidated
 * by a password change.
 */
export type AccountTokenPurpose = 'verify_email' | 'reset_password' | 'change_email';

export function generateAccountToken(): string {
  return randomBytes(32).toString('base64url');
}

function hashAccountToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** 32 bytes in base64url is exactly 43 characters: anything else is refused before any lookup. */
export function looksLikeAccountToken(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

export interface ConsumedToken {
  id: string;
  user_id: string;
  purpose: AccountTokenPurpose;
  /** The address the token was sent to (for change_email: the new address). */
  email: string;
}

/** Why a token was refused — for the audit trail only: the client always gets the same answer. */
export type TokenRefusal = 'unknown' | 'consumed' | 'superseded' | 'expired' | 'wrong_purpose';

export function createAccountTokensRepo(knex: Knex) {
  return {
    /**
     * A new token for `userId` and `purpose`, sent to `email`, valid `ttlSeconds`; every live token of
     * the same purpose is superseded in the same statement's transaction.
     */
    async issue(trx: Knex, userId: string, purpose: AccountTokenPurpose, email: string, now: Date, ttlSeconds: number): Promise<string> {
      const token = generateAccountToken();
      // Issues for one user run one at a time (the user row is the lock): two racing requests cannot
      // both leave a live token, since the second sees — and supersedes — the first's.
      await trx('users').select('id').where({ id: userId }).forUpdate();
      await trx('account_tokens')
        .where({ user_id: userId, purpose })
        .whereNull('consumed_at')
        .whereNull('invalidated_at')
        .update({ invalidated_at: now });
      await trx('account_tokens').insert({
        user_id: userId,
        purpose,
        token_hash: hashAccountToken(token),
        email,
        created_at: now,
        expires_at: new Date(now.getTime() + ttlSeconds * 1000),
      });
      return token;
    },

    /** Consumes a live token of `purpose` atomically; undefined (with the reason) when it is not one. */
    async consume(trx: Knex, token: string, purpose: AccountTokenPurpose, now: Date): Promise<ConsumedToken | { refused: TokenRefusal }> {
      const hash = hashAccountToken(token);
      const r = await trx.raw(
        `update account_tokens set consumed_at = ?
          where token_hash = ? and purpose = ? and consumed_at is null and invalidated_at is null and expires_at > ?
          returning id, user_id, purpose, email`,
        [now, hash, purpose, now],
      );
      const row = r.rows[0] as ConsumedToken | undefined;
      if (row) return row;
      const found = (await trx('account_tokens').select('purpose', 'consumed_at', 'invalidated_at', 'expires_at').where({ token_hash: hash }).first()) as
        | { purpose: string; consumed_at: Date | null; invalidated_at: Date | null; expires_at: Date }
        | undefined;
      if (!found) return { refused: 'unknown' };
      if (found.purpose !== purpose) return { refused: 'wrong_purpose' };
      if (found.consumed_at) return { refused: 'consumed' };
      if (found.invalidated_at) return { refused: 'superseded' };
      return { refused: 'expired' };
    },

    /** The live token's owner, without consuming it (to check a new password before the token is spent). */
    async peek(token: string, purpose: AccountTokenPurpose, now: Date): Promise<ConsumedToken | undefined> {
      const row = await knex('account_tokens')
        .select('id', 'user_id', 'purpose', 'email')
        .where({ token_hash: hashAccountToken(token), purpose })
        .whereNull('consumed_at')
        .whereNull('invalidated_at')
        .andWhere('expires_at', '>', now)
        .first();
      return row as ConsumedToken | undefined;
    },

    /** Invalidates every live token of a user (a password change or reset), or only those of `purposes`. */
    async invalidateAll(trx: Knex, userId: string, now: Date, purposes?: AccountTokenPurpose[]): Promise<number> {
      const q = trx('account_tokens').where({ user_id: userId }).whereNull('consumed_at').whereNull('invalidated_at');
      if (purposes) q.whereIn('purpose', purposes);
      return q.update({ invalidated_at: now });
    },
  };
}

export type AccountTokensRepo = ReturnType<typeof createAccountTokensRepo>;
