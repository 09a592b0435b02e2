import { defineGroup, examples } from '../lib/command-kit.js';
import { wholeNumber } from '../lib/option-values.js';
import type { MfaOptions } from './mfa.js';

/** `secops mfa reencrypt` (run: ./mfa.ts). */

const load = () => import('./mfa.js');

interface ReencryptFlags {
  batchSize: string;
  dryRun?: boolean;
}

export function reencryptOptions(flags: ReencryptFlags): MfaOptions {
  return { action: 'reencrypt', batchSize: wholeNumber(flags.batchSize, '--batch-size', 1, 10_000), dryRun: flags.dryRun === true };
}

export const mfaGroup = defineGroup('mfa', (program, action) => {
  const mfa = program
    .command('mfa')
    .description('second factors at rest: move TOTP secrets to the newest MFA_ENCRYPTION_KEY')
    .addHelpText('after', `${examples('secops mfa reencrypt --dry-run', 'secops mfa reencrypt')}See runbooks/secret-rotation.md ("MFA_ENCRYPTION_KEY").\n`);
  mfa
    .command('reencrypt')
    .description('re-seal every TOTP secret not under the primary key of MFA_ENCRYPTION_KEY with it (online, resumable); exit 1 if any cannot be read')
    .option('--batch-size <n>', 'rows read per batch', '200')
    .option('--dry-run', 'count the secrets under other keys; change nothing')
    .addHelpText(
      'after',
      `${examples(
        'MFA_ENCRYPTION_KEY_FILE=/var/run/secrets/rampart/mfa-encryption-key secops mfa reencrypt --dry-run',
        'secops --json mfa reencrypt | jq .remaining',
      )}Reads MFA_ENCRYPTION_KEY (or _FILE, _REF) and the database settings only. Run it after every replica has the new primary key;
remove the old key from the keyring only once "remaining" is 0.\n`,
    )
    .action(action<MfaOptions, ReencryptFlags>(load, ({ flags }) => reencryptOptions(flags)));
});
