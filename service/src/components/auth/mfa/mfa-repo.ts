import type { Knex } from '../../../platform/db.js';

/** Data access of the second factors: TOTP (one per user) and recovery codes. Plain objects out. */
export interface TotpRow {
  user_id: string;
  secret_ciphertext: Buffer;
  key_id: string;
  confirmed_at: Date | null;
  last_step: string | number;
}

export function createMfaRepo(knex: Knex) {
  return {
    async totp(userId: string, trx: Knex = knex): Promise<TotpRow | undefined> {
      return (await trx('mfa_totp').where({ user_id: userId }).first()) as TotpRow | undefined;
    },
    /** A new pending secret (replacing an unconfirmed one); never touches a confirmed TOTP. */
    async putPending(userId: string, keyId: string, ciphertext: Buffer): Promise<boolean> {
      const rows = await knex.raw(
        `insert into mfa_totp (user_id, secret_ciphertext, key_id) values (?, ?, ?)
         on conflict (user_id) do update set secret_ciphertext = excluded.secret_ciphertext, key_id = excluded.key_id,
           created_at = now(), last_step = 0 where mfa_totp.confirmed_at is null
         returning user_id`,
        [userId, ciphertext, keyId],
      );
      return (rows as { rows: unknown[] }).rows.length === 1;
    },
    /** Accepts time step `step` once: only if newer than the last one accepted (replay-safe across replicas). */
    async acceptStep(userId: string, step: number, confirm: boolean, now: Date, trx: Knex = knex): Promise<boolean> {
      const update: Record<string, unknown> = { last_step: step };
      if (confirm) update.confirmed_at = now;
      const n = await trx('mfa_totp').where({ user_id: userId }).andWhere('last_step', '<', step).update(update);
      return n === 1;
    },
    async deleteTotp(userId: string, trx: Knex = knex): Promise<boolean> {
      return (await trx('mfa_totp').where({ user_id: userId }).delete()) > 0;
    },
    async replaceRecoveryCodes(userId: string, hashes: Buffer[], trx: Knex): Promise<void> {
      await trx('mfa_recovery_codes').where({ user_id: userId }).delete();
      await trx('mfa_recovery_codes').insert(hashes.map((code_hash) => ({ user_id: userId, code_hash })));
    },
    /** Spends one unused code; false when it is wrong or already used. */
    async useRecoveryCode(userId: string, hash: Buffer, now: Date): Promise<boolean> {
      const n = await knex('mfa_recovery_codes').where({ user_id: userId, code_hash: hash }).whereNull('used_at').update({ used_at: now });
      return n === 1;
    },
    async deleteRecoveryCodes(userId: string, trx: Knex = knex): Promise<void> {
      await trx('mfa_recovery_codes').where({ user_id: userId }).delete();
    },
    async remainingRecoveryCodes(userId: string): Promise<number> {
      const row = (await knex('mfa_recovery_codes').where({ user_id: userId }).whereNull('used_at').count('* as n').first()) as { n: string | number } | undefined;
      return Number(row?.n ?? 0);
    },
    async passkeyCount(userId: string): Promise<number> {
      const row = (await knex('webauthn_credentials').where({ user_id: userId }).count('* as n').first()) as { n: string | number } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type MfaRepo = ReturnType<typeof createMfaRepo>;
