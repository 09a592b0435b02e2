import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupRefusedError } from './catalog.js';
import { streamToPrivateFile } from '../private-files.js';
import { DUMP_DIR, type StoredBackup } from './manifest.js';

/** Files largest first, so that one big table file does not start last. */
export function largestFirst<T extends { bytes: number }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => b.bytes - a.bytes);
}

/** The refusal of a dump file whose bytes are not the ones the signed manifest hashed. */
export function fileMismatch(id: string, path: string): BackupRefusedError {
  return new BackupRefusedError(`backup ${id}: ${path} does not match its SHA-256 in the signed manifest (replaced or altered)`, 'file_mismatch');
}

/**
 * The dump directory holds exactly the files the (verified) manifest lists, each of the recorded size:
 * checked before a byte of it is copied, decrypted or restored. Extra files are refused too —
 * pg_restore opens `1234.dat` before `1234.dat.gz`, so a file added next to a listed one would be
 * restored in its place. Each file's SHA-256 is then checked in the same read that copies or decrypts
 * it (restore.ts). Format-1 manifests (accepted with --allow-unsigned) have sizes only.
 */
export function checkDumpListing(backup: StoredBackup): void {
  const dumpDir = join(backup.dir, DUMP_DIR);
  const { id, files } = backup.manifest;
  const listed = new Set(files.map((f) => f.path));
  let present: string[];
  try {
    present = readdirSync(dumpDir);
  } catch {
    throw new BackupRefusedError(`backup ${id}: no ${DUMP_DIR}/ directory`, 'file_missing');
  }
  const extra = present.filter((name) => !listed.has(name));
  if (extra.length > 0)
    throw new BackupRefusedError(
      `backup ${id}: ${DUMP_DIR}/ holds files its manifest does not list: ${extra.slice(0, 5).join(', ')}`,
      'file_unexpected',
    );
  const missing = files.filter((f) => !present.includes(f.path));
  if (missing.length > 0)
    throw new BackupRefusedError(
      `backup ${id}: files missing from ${DUMP_DIR}/: ${missing
        .slice(0, 5)
        .map((f) => f.path)
        .join(', ')}`,
      'file_missing',
    );
  for (const f of files) {
    const bytes = statSync(join(dumpDir, f.path)).size;
    if (bytes !== f.bytes)
      throw new BackupRefusedError(
        `backup ${id}: ${f.path} is ${bytes} bytes, the signed manifest says ${f.bytes}`,
        'file_mismatch',
      );
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * Copies a dump file into a private directory, hashing what it copies, and refuses the copy unless it
 * has the manifest's SHA-256. pg_restore then reads the copy, so the bytes restored are the bytes
 * hashed: a file swapped on the backup storage at any moment cannot reach the restore, and each file
 * is read once (encrypted files need no copy: their plaintext is written privately and bound by the
 * GCM tag in the signed manifest).
 */
export async function copyVerified(from: string, to: string, expectedSha256: string, backupId: string, name: string): Promise<void> {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await streamToPrivateFile(from, to, tap);
  if (hash.digest('hex') !== expectedSha256) {
    rmSync(to, { force: true });
    throw fileMismatch(backupId, name);
  }
}
