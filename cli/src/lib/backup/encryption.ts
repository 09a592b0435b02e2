import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError } from '../errors.js';
import { streamToPrivateFile } from '../private-files.js';

/**
 * Encryption at rest: AES-256-GCM, one random 12-byte IV per file (never reused under a key), the
 * file's name bound in as additional authenticated data so files cannot be swapped, and the 16-byte
 * authentication tag kept in the manifest. Decryption fails — and its output is deleted — unless
 * every byte is authentic, so a restore never reads tampered plaintext.
 */

export const ALGORITHM = 'aes-256-gcm';

/** The key file holds 32 raw bytes, or them as 64 hex digits or base64 (a trailing newline is fine). */
export function readKeyFile(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read the encryption key file ${path}: ${(err as Error).message}`, { code: 'key_unreadable' });
  }
  return parseKey(raw, `the encryption key file ${path}`);
}

/** 32 raw bytes, or them as 64 hex digits or base64; `source` names where it came from in the error. */
export function parseKey(raw: Buffer, source: string): Buffer {
  if (raw.length === 32) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const b64 = Buffer.from(text, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(text)) return b64;
  throw new CliError(`${source} must hold exactly 32 bytes (raw, 64 hex digits or base64)`, { code: 'key_invalid' });
}

/** Names the key in the manifest without revealing it: restore checks it has the same key. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('rampart-backup-key-id\0').update(key).digest('hex').slice(0, 16);
}

export interface Sealed {
  iv: string;
  tag: string;
}

/** Streams `from` into `to` encrypted; `name` is the file's name in the dump (its AAD). */
export async function encryptFile(key: Buffer, from: string, to: string, name: string): Promise<Sealed> {
  const iv = randomBytes(12);
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(Buffer.from(name));
  await pipeline(createReadStream(from), cipher, createWriteStream(to, { mode: 0o600 }));
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/**
 * Streams `from` into `to` decrypted; throws (leaving no `to`) when the file is not authentic.
 * `onCiphertext` sees every chunk read, before it is decrypted (a caller hashes the file in the same pass).
 */
export async function decryptFile(
  key: Buffer,
  from: string,
  to: string,
  name: string,
  sealed: Sealed,
  onCiphertext?: (chunk: Buffer) => void,
): Promise<void> {
  const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(Buffer.from(name));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  const decrypt = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onCiphertext?.(chunk);
      try {
        done(null, decipher.update(chunk));
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        done(null, decipher.final()); // throws when the tag does not match
      } catch (err) {
        done(err as Error);
      }
    },
  });
  try {
    await streamToPrivateFile(from, to, decrypt);
  } catch (err) {
    throw new CliError(`${name}: decryption failed — the file was altered or the key is wrong (${(err as Error).message})`, {
      code: 'decrypt_failed',
      cause: err,
    });
  }
}

/**
 * The same AES-256-GCM for data held in memory (retention's archive parts), self-contained so that a
 * file can be read back without its journal: MAGIC, the 12-byte IV, the ciphertext, the 16-byte tag.
 * `name` (the file's name) is the additional authenticated data, as for dump files.
 */
const SEALED_MAGIC = Buffer.from('RAMPART-AES256GCM\n');

export function sealBuffer(key: Buffer, data: Buffer, name: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(Buffer.from(name));
  const body = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([SEALED_MAGIC, iv, body, cipher.getAuthTag()]);
}

function isSealed(data: Buffer): boolean {
  return data.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC);
}

/** The plaintext of a sealBuffer() result; throws unless every byte is authentic under `key`. */
export function openSealed(key: Buffer, sealed: Buffer, name: string): Buffer {
  if (!isSealed(sealed) || sealed.length < SEALED_MAGIC.length + 12 + 16) {
    throw new CliError(`${name}: not an encrypted archive file`, { code: 'decrypt_failed' });
  }
  const iv = sealed.subarray(SEALED_MAGIC.length, SEALED_MAGIC.length + 12);
  const tag = sealed.subarray(sealed.length - 16);
  const decipher = createDecipheriv(ALGORITHM, key, iv);
  decipher.setAAD(Buffer.from(name));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(SEALED_MAGIC.length + 12, sealed.length - 16)), decipher.final()]);
  } catch (err) {
    throw new CliError(`${name}: decryption failed — the file was altered or the key is wrong (${(err as Error).message})`, {
      code: 'decrypt_failed',
      cause: err,
    });
  }
}
