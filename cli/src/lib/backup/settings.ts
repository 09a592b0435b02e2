import { type Env, readSettings } from '../../../../service/src/public/config.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { openSecretStore, secretFailure } from '../secrets.js';
import { parseKey, readKeyFile } from './encryption.js';

/**
 * The settings `secops backup` reads (declared with every other one in the service's settings.ts), each
 * the default of an option: BACKUP_DIR (--dir, default ./backups), BACKUP_ENCRYPT_KEY_FILE
 * (--encrypt-key-file), BACKUP_ENCRYPT_KEY_REF (--encrypt-key-ref: a secret reference, e.g.
 * vault://secret/rampart#backup_key).
 */
const BACKUP_SETTINGS = ['BACKUP_DIR', 'BACKUP_ENCRYPT_KEY_FILE', 'BACKUP_ENCRYPT_KEY_REF'] as const;

export type BackupEnv = Pick<Env, (typeof BACKUP_SETTINGS)[number]>;

export function backupEnv(env: Readonly<Record<string, string | undefined>>): BackupEnv {
  const parsed = readSettings(env, BACKUP_SETTINGS);
  if ('problems' in parsed) throw new UsageError(`invalid backup setting: ${parsed.problems[0]}`);
  return parsed.values;
}

/**
 * The backup encryption key, if one is configured: `--encrypt-key-ref` / `--encrypt-key-file`, else
 * BACKUP_ENCRYPT_KEY_REF / BACKUP_ENCRYPT_KEY_FILE. A reference is read through the secret providers
 * the service uses (file:, vault://, aws-sm://, aws-ssm:///, env:); one source at a time.
 */
export async function backupKey(
  ctx: Pick<CliContext, 'env'>,
  flags: { encryptKeyFile?: string; encryptKeyRef?: string },
): Promise<Buffer | undefined> {
  if (flags.encryptKeyFile && flags.encryptKeyRef) throw new UsageError('--encrypt-key-file and --encrypt-key-ref exclude each other');
  const settings = backupEnv(ctx.env);
  const fromFlags = flags.encryptKeyFile || flags.encryptKeyRef;
  const ref = fromFlags ? flags.encryptKeyRef : settings.BACKUP_ENCRYPT_KEY_REF;
  const file = fromFlags ? flags.encryptKeyFile : settings.BACKUP_ENCRYPT_KEY_FILE;
  if (ref && file) throw new UsageError('BACKUP_ENCRYPT_KEY_FILE and BACKUP_ENCRYPT_KEY_REF are both set; set only one');
  if (file) return readKeyFile(file);
  if (!ref) return undefined;
  const { store, ref: parsed } = await openSecretStore(ctx, ref);
  let value: string;
  try {
    value = (await store.read(parsed)).value;
  } catch (err) {
    throw secretFailure(err, ref);
  }
  return parseKey(Buffer.from(value, 'utf8'), `the encryption key at ${ref}`);
}
