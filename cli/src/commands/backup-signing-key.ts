import type { BackupOptions } from '../lib/backup/options.js';
import { generateSigningKeyring } from '../lib/backup/signing.js';
import type { CliContext } from '../lib/context.js';

/**
 * `secops backup signing-key generate`: a fresh keyring document on stdout (the operator stores it in
 * the secret manager as BACKUP_SIGNING_KEY); the key is never written to disk by the CLI.
 */
export async function runGenerateSigningKey(options: Extract<BackupOptions, { action: 'signing-key' }>, ctx: CliContext) {
  const keyring = generateSigningKeyring(options.alg, options.kid);
  ctx.stdout.write(`${keyring}\n`);
  return { alg: options.alg };
}
