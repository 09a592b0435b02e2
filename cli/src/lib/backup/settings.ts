import { type Env, readSettings } from '../../../../service/src/public/config.js';
import { readSecretSetting } from '../config.js';
import type { CliContext } from '../context.js';
import { ConfigurationError, UsageError } from '../errors.js';
import { openSecretStore, secretFailure } from '../secrets.js';
import type { VerifyOptions } from './catalog.js';
import { parseKey, readKeyFile } from './encryption.js';
import { parseSigningKeyring, type SigningKeyring } from './signing.js';

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

/** The manifest signing keyring, BACKUP_SIGNING_KEY (inline, _FILE or _REF, the service's way), if set. */
export async function signingKeyring(ctx: Pick<CliContext, 'env'>): Promise<SigningKeyring | undefined> {
  const problems: string[] = [];
  const text = await readSecretSetting(ctx.env, 'BACKUP_SIGNING_KEY', problems);
  if (problems.length > 0) throw new ConfigurationError(problems);
  return text === undefined ? undefined : parseSigningKeyring(text);
}

/** The keyring, which `what` (creating a backup, verifying one without --allow-unsigned) cannot go without. */
export async function requireSigningKeyring(ctx: Pick<CliContext, 'env'>, what: string): Promise<SigningKeyring> {
  const keyring = await signingKeyring(ctx);
  if (keyring) return keyring;
  throw new ConfigurationError([
    `BACKUP_SIGNING_KEY is not set (nor BACKUP_SIGNING_KEY_FILE / _REF): ${what} needs it (backups are signed when taken and verified before use; \`secops backup signing-key generate\` makes a keyring; --allow-unsigned accepts pre-signing backups only)`,
  ]);
}

/**
 * How a command that reads backups verifies them. --allow-unsigned makes the keyring optional and
 * accepts format-1 manifests; it is said on stderr every time, never silently.
 */
export async function verifyOptions(
  ctx: Pick<CliContext, 'env'>,
  allowUnsigned: boolean,
  warn: (message: string) => void,
  now: Date = new Date(),
): Promise<VerifyOptions> {
  if (!allowUnsigned) return { keyring: await requireSigningKeyring(ctx, 'verifying backups'), allowUnsigned, now };
  warn('--allow-unsigned: format-1 (unsigned, pre-signing) backups are accepted without authentication; anyone with write access to the backup storage can forge one');
  return { keyring: await signingKeyring(ctx), allowUnsigned, now };
}
