import { developmentMfaKey, parseMfaKeyring, type ReencryptReport, reencryptTotpSecrets } from '../../../service/src/public/auth.js';
import { readSecretSetting } from '../lib/config.js';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, ConfigurationError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';

/**
 * `secops mfa reencrypt`: the last step of rotating MFA_ENCRYPTION_KEY (runbooks/secret-rotation.md).
 * Reads the keyring the service's way and the database settings only.
 */
export interface MfaOptions {
  action: 'reencrypt';
  batchSize: number;
  dryRun: boolean;
}

export async function run(options: MfaOptions, ctx: CliContext): Promise<ReencryptReport> {
  const out = createReporter(ctx);
  const problems: string[] = [];
  const text = await readSecretSetting(ctx.env, 'MFA_ENCRYPTION_KEY', problems);
  if (problems.length > 0) throw new ConfigurationError(problems);
  const production = ctx.env.NODE_ENV === 'production';
  if (text === undefined && production) throw new ConfigurationError(['MFA_ENCRYPTION_KEY is required in production']);
  if (text === undefined) out.warn('MFA_ENCRYPTION_KEY is not set: using the fixed development key (as the service does outside production)');
  let keyring: ReturnType<typeof parseMfaKeyring>;
  try {
    keyring = parseMfaKeyring(text ?? developmentMfaKey());
  } catch (err) {
    throw new ConfigurationError([(err as Error).message]);
  }
  const db = await ctx.database();
  let report: ReencryptReport;
  try {
    report = await out.step(
      options.dryRun ? `Counting TOTP secrets not under key ${keyring.primaryId} (dry run)` : `Re-sealing TOTP secrets under key ${keyring.primaryId}`,
      () => reencryptTotpSecrets(db.knex, keyring, { batchSize: options.batchSize, dryRun: options.dryRun }),
    );
  } finally {
    await db.close();
  }
  out.json(report);
  if (report.failed.length > 0) {
    throw new CheckFailedError(
      `${report.failed.length} secret(s) could not be read with MFA_ENCRYPTION_KEY (${[...new Set(report.failed.map((f) => f.keyId))].join(', ')}): put the key that sealed them back in the keyring and re-run`,
    );
  }
  if (options.dryRun) out.line(`${report.candidates} secret(s) are under other keys than ${report.primaryKeyId}. Nothing changed.`);
  else out.success(`${report.reencrypted} secret(s) re-sealed under ${report.primaryKeyId}; ${report.skipped} changed meanwhile (left as they are); ${report.remaining} remain under other keys`);
  return report;
}
