import { defineGroup, examples } from '../lib/command-kit.js';
import { wholeNumber } from '../lib/option-values.js';
import type { GenerateOptions } from './secret.js';

/** `secops secret generate` (run: ./secret.ts). */

/** 32 bytes is the floor for a signing secret (RFC 7518 §3.2 for HS256); 1024 bounds a typo. */
export const SECRET_BYTES = Object.freeze({ min: 32, max: 1024, default: 64 });

export interface SecretFlags {
  bytes: string;
  to?: string;
  overwrite?: boolean;
}

export function generateOptions(flags: SecretFlags): GenerateOptions {
  return { bytes: wholeNumber(flags.bytes, '--bytes', SECRET_BYTES.min, SECRET_BYTES.max), to: flags.to, overwrite: flags.overwrite === true };
}

export const secretGroup = defineGroup('secret', (program, action) => {
  program
    .command('secret')
    .description('generate secrets from the OS CSPRNG')
    .addHelpText('after', examples('secops secret generate', 'secops secret generate --to vault://secret/rampart#jwt_secret'))
    .command('generate')
    .description('random bytes (default 64) as base64url, to stdout or straight into a secret store (never printed then)')
    .option('--bytes <n>', `how many random bytes (${SECRET_BYTES.min}–${SECRET_BYTES.max})`, String(SECRET_BYTES.default))
    .option('--to <ref>', 'write into this secret reference instead of printing: file:/path, vault://mount/path#key, aws-sm://id#key, aws-ssm:///name')
    .option('--overwrite', 'replace a value already stored at --to (default: refuse)')
    .addHelpText(
      'after',
      examples(
        'secops secret generate > /dev/null  # prints one base64url line',
        'secops secret generate --to vault://secret/rampart#jwt_secret',
        'secops secret generate --bytes 32 --to aws-sm://rampart/prod#session_key --overwrite',
      ),
    )
    .action(action<GenerateOptions, SecretFlags>(() => import('./secret.js'), ({ flags }) => generateOptions(flags)));
});
