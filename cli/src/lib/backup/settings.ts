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
  const settings = backupEnv(ctx.env);
  return encryptionKey(ctx, flags, {
    file: { name: 'BACKUP_ENCRYPT_KEY_FILE', value: settings.BACKUP_ENCRYPT_KEY_FILE },
    ref: { name: 'BACKUP_ENCRYPT_KEY_REF', value: settings.BACKUP_ENCRYPT_KEY_REF },
  });
}

/** `secops retention run`'s archive key, the same way: its flags, else RETENTION_ENCRYPT_KEY_REF / _FILE. */
export async function retentionKey(
  ctx: Pick<CliContext, 'env'>,
  flags: { encryptKeyFile?: string; encryptKeyRef?: string },
): Promise<Buffer | undefined> {
  const parsed = readSettings(ctx.env, ['RETENTION_ENCRYPT_KEY_FILE', 'RETENTION_ENCRYPT_KEY_REF'] as const);
  if ('problems' in parsed) throw new UsageError(`invalid retention setting: ${parsed.problems[0]}`);
  return encryptionKey(ctx, flags, {
    file: { name: 'RETENTION_ENCRYPT_KEY_FILE', value: parsed.values.RETENTION_ENCRYPT_KEY_FILE },
    ref: { name: 'RETENTION_ENCRYPT_KEY_REF', value: parsed.values.RETENTION_ENCRYPT_KEY_REF },
  });
}

interface KeySetting {
  name: string;
  value: string | undefined;
}

/** A 32-byte key from the flags, else from the settings; one source at a time. */
async function encryptionKey(
  ctx: Pick<CliContext, 'env'>,
  flags: { encryptKeyFile?: string; encryptKeyRef?: string },
  settings: { file: KeySetting; ref: KeySetting },
): Promise<Buffer | undefined> {
  if (flags.encryptKeyFile && flags.encryptKeyRef) throw new UsageError('--encrypt-key-file and --encrypt-key-ref exclude each other');
  const fromFlags = flags.encryptKeyFile || flags.encryptKeyRef;
  const ref = fromFlags ? flags.encryptKeyRef : settings.ref.value;
  const file = fromFlags ? flags.encryptKeyFile : settings.file.value;
  if (ref && file) throw new UsageError(`${settings.file.name} and ${settings.ref.name} are both set; set only one`);
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
