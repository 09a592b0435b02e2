import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { CliError } from '../errors.js';
import { keyId, openSealed, sealBuffer } from '../backup/encryption.js';
import { writeFileDurably } from './durable.js';

/** One archive part: the rows of one batch of one table, a JSON document per line, gzipped. */
export interface ArchivedRow {
  /** Primary key as text (uuid, or a bigint that JSON numbers could not hold). */
  id: string;
  /** The row as PostgreSQL renders it (`row_to_json`): exact timestamps, jsonb kept as JSON. */
  doc: string;
}

/** `messages-000001.jsonl.gz`, or `….jsonl.gz.enc` when the run encrypts its parts. */
export function partFileName(table: string, index: number, encrypted = false): string {
  return `${table}-${String(index).padStart(6, '0')}.jsonl.gz${encrypted ? '.enc' : ''}`;
}

export const PART_FILE = /^([a-z_]+)-(\d{6,})\.jsonl\.gz(\.enc)?$/;

export interface WrittenPart {
  file: string;
  sha256: string;
  bytes: number;
}

/** Writes the part (0600); sealed with `key` (AES-256-GCM, the file name as AAD) when given. */
export async function writePart(dir: string, file: string, rows: readonly ArchivedRow[], key?: Buffer): Promise<WrittenPart> {
  const compressed = await promisify(gzip)(Buffer.from(rows.map((r) => `${r.doc}\n`).join('')));
  const data = key ? sealBuffer(key, compressed, file) : compressed;
  await writeFileDurably(dir, file, data);
  return { file, sha256: sha256(data), bytes: data.length };
}

/**
 * The part's rows; gzip's CRC rejects a damaged file, `expectedSha256` a substituted one, and an
 * encrypted part is authenticated and decrypted with `key` (required for it).
 */
export async function readPart(dir: string, file: string, expectedSha256?: string, key?: Buffer): Promise<Record<string, unknown>[]> {
  const data = await readFile(join(dir, file));
  if (expectedSha256 !== undefined && sha256(data) !== expectedSha256) {
    throw new Error(`archive part ${file} does not match the checksum in the journal`);
  }
  let compressed: Buffer = data;
  if (file.endsWith('.enc')) {
    if (!key) {
      throw new CliError(`archive part ${file} is encrypted: pass --encrypt-key-file or --encrypt-key-ref (or set RETENTION_ENCRYPT_KEY_FILE / _REF)`, {
        code: 'key_required',
      });
    }
    compressed = openSealed(key, data, file);
  }
  const text = (await promisify(gunzip)(compressed)).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function checksumOf(dir: string, file: string): Promise<{ sha256: string; bytes: number }> {
  const data = await readFile(join(dir, file));
  return { sha256: sha256(data), bytes: data.length };
}

export function archiveEncryption(key: Buffer | undefined) {
  return key ? { algorithm: 'aes-256-gcm' as const, keyId: keyId(key) } : null;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
