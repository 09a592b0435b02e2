import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { writeFileDurably } from './durable.js';

/** One archive part: the rows of one batch of one table, a JSON document per line, gzipped. */
export interface ArchivedRow {
  /** Primary key as text (uuid, or a bigint that JSON numbers could not hold). */
  id: string;
  /** The row as PostgreSQL renders it (`row_to_json`): exact timestamps, jsonb kept as JSON. */
  doc: string;
}

export function partFileName(table: string, index: number): string {
  return `${table}-${String(index).padStart(6, '0')}.jsonl.gz`;
}

export const PART_FILE = /^([a-z_]+)-(\d{6,})\.jsonl\.gz$/;

export interface WrittenPart {
  file: string;
  sha256: string;
  bytes: number;
}

export async function writePart(dir: string, file: string, rows: readonly ArchivedRow[]): Promise<WrittenPart> {
  const data = await promisify(gzip)(Buffer.from(rows.map((r) => `${r.doc}\n`).join('')));
  await writeFileDurably(dir, file, data);
  return { file, sha256: sha256(data), bytes: data.length };
}

/** The part's rows; gzip's CRC rejects a damaged file, `expectedSha256` a substituted one. */
export async function readPart(dir: string, file: string, expectedSha256?: string): Promise<Record<string, unknown>[]> {
  const data = await readFile(join(dir, file));
  if (expectedSha256 !== undefined && sha256(data) !== expectedSha256) {
    throw new Error(`archive part ${file} does not match the checksum in the journal`);
  }
  const text = (await promisify(gunzip)(data)).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function checksumOf(dir: string, file: string): Promise<{ sha256: string; bytes: number }> {
  const data = await readFile(join(dir, file));
  return { sha256: sha256(data), bytes: data.length };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
