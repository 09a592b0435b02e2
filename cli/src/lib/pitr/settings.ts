import { type Env, readSettings } from '../../../../service/src/public/config.js';
import { readSecretSetting } from '../config.js';
import type { CliContext } from '../context.js';
import { ConfigurationError } from '../errors.js';

/**
 * The settings `secops pitr` reads (declared with every other one in the service's settings.ts):
 * PITR_CONFIG, PITR_STANZA, PITR_REPO_PATH, PITR_RETENTION_FULL, and the repository passphrase
 * PITR_REPO_CIPHER_PASS (its variable, _FILE or _REF through the secret providers).
 */
const PITR_SETTINGS = ['PITR_CONFIG', 'PITR_STANZA', 'PITR_REPO_PATH', 'PITR_RETENTION_FULL'] as const;

export type PitrEnv = Pick<Env, (typeof PITR_SETTINGS)[number]>;

export function pitrEnv(env: Readonly<Record<string, string | undefined>>): PitrEnv {
  const parsed = readSettings(env, PITR_SETTINGS);
  if ('problems' in parsed) throw new ConfigurationError(parsed.problems);
  return parsed.values;
}

/** The repository passphrase; a configuration problem (exit 78) when it is missing or unreadable. */
export async function pitrCipherPass(ctx: Pick<CliContext, 'env'>): Promise<string> {
  const problems: string[] = [];
  const value = await readSecretSetting(ctx.env, 'PITR_REPO_CIPHER_PASS', problems);
  if (problems.length > 0) throw new ConfigurationError(problems);
  if (value === undefined) {
    throw new ConfigurationError([
      'PITR_REPO_CIPHER_PASS (or _FILE / _REF) is required: the pgBackRest repository is encrypted (aes-256-cbc); generate one with `openssl rand -base64 48`',
    ]);
  }
  if (value.length < 20) throw new ConfigurationError(['PITR_REPO_CIPHER_PASS: at least 20 characters']);
  return value;
}
