import type { Knex } from '../../../platform/db.js';
import type { MfaKeyring } from '../../../platform/mfa-keyring.js';

/**
 * `secops mfa reencrypt`: every TOTP secret not under the keyring's primary key is decrypted with the
 * key that sealed it and sealed again with the primary, in small batches. Each row is replaced only if
 * it still holds the ciphertext read (compare-and-set), so a user re-enrolling meanwhile keeps the new
 * secret. Safe to run while the service serves logins and to run again: rows already under the primary
 * are not touched. Afterwards no row needs the old keys, which can then leave MFA_ENCRYPTION_KEY.
 */
export interface ReencryptReport {
  primaryKeyId: string;
  /** Rows under another key when the run started. */
  candidates: number;
  reencrypted: number;
  /** Changed by someone else between read and write (re-enrolled, removed): left as they are. */
  skipped: number;
  /** Could not be decrypted with any key of the keyring (the key is missing or the row is damaged). */
  failed: { userId: string; keyId: string; reason: string }[];
  /** Rows still under another key after the run (0 = the old keys can be removed). */
  remaining: number;
  dryRun: boolean;
}

export async function reencryptTotpSecrets(
  knex: Knex,
  keyring: MfaKeyring,
  options: { batchSize: number; dryRun: boolean; onProgress?: (done: number, total: number) => void },
): Promise<ReencryptReport> {
  const primary = keyring.primaryId;
  const countOthers = async () =>
    Number(((await knex('mfa_totp').whereNot('key_id', primary).count('* as n').first()) as { n: string | number } | undefined)?.n ?? 0);
  const candidates = await countOthers();
  const report: ReencryptReport = { primaryKeyId: primary, candidates, reencrypted: 0, skipped: 0, failed: [], remaining: candidates, dryRun: options.dryRun };
  if (options.dryRun || candidates === 0) return report;

  const failedUsers = new Set<string>();
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows = (await knex('mfa_totp')
      .whereNot('key_id', primary)
      .andWhere('user_id', '>', after)
      .orderBy('user_id')
      .limit(options.batchSize)
      .select('user_id', 'key_id', 'secret_ciphertext')) as { user_id: string; key_id: string; secret_ciphertext: Buffer }[];
    if (rows.length === 0) break;
    for (const row of rows) {
      after = row.user_id;
      let plaintext: Buffer;
      try {
        plaintext = keyring.decrypt(row.key_id, row.secret_ciphertext, row.user_id);
      } catch (err) {
        failedUsers.add(row.user_id);
        report.failed.push({ userId: row.user_id, keyId: row.key_id, reason: (err as Error).message });
        continue;
      }
      const sealed = keyring.encrypt(plaintext, row.user_id);
      plaintext.fill(0);
      const n = await knex('mfa_totp')
        .where({ user_id: row.user_id, key_id: row.key_id, secret_ciphertext: row.secret_ciphertext })
        .update({ key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext });
      if (n === 1) report.reencrypted += 1;
      else report.skipped += 1;
    }
    options.onProgress?.(report.reencrypted + report.skipped + report.failed.length, candidates);
  }
  report.remaining = await countOthers();
  return report;
}
