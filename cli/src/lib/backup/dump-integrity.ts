import { createHash } from 'node:crypto';
import { constants, readdirSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, type FileReadResult, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupRefusedError } from './catalog.js';
import { PRIVATE_FILE } from '../private-files.js';
import { DUMP_DIR, type StoredBackup } from './manifest.js';

/** Files largest first, so that one big table file does not start last. */
export function largestFirst<T extends { bytes: number }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => b.bytes - a.bytes);
}

/** The refusal of a dump file whose bytes are not the ones the signed manifest hashed. */
export function fileMismatch(id: string, path: string): BackupRefusedError {
  return new BackupRefusedError(
    `backup ${id}: ${path} does not match its SHA-256 in the signed manifest (replaced or altered)`,
    'file_mismatch',
  );
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
  const input = await open(path, constants.O_RDONLY);
  try {
    await eachChunk(input, (chunk) => {
      hash.update(chunk);
    });
  } finally {
    await input.close();
  }
  return hash.digest('hex');
}

const CHUNK_BYTES = 1 << 20;

/**
 * Reads `input` front to back in 1 MiB chunks, into two buffers used in turn: the next chunk is read
 * (on libuv's threads) while `each` hashes, and perhaps writes, this one, and `each` has finished with
 * a buffer before it is read into again. A read stream allocates a buffer for every chunk: hashing
 * a 38 MB dump took ~55 ms that way against ~30 ms (docs/performance.md, "Ninth session").
 */
async function eachChunk(input: FileHandle, each: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  const buffers: Buffer[] = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let turn = 0;
  let reading: Promise<FileReadResult<Buffer>> = input.read(buffers[0] as Buffer, 0, CHUNK_BYTES, null);
  try {
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) return;
      turn ^= 1;
      reading = input.read(buffers[turn] as Buffer, 0, CHUNK_BYTES, null);
      await each(bytesRead === CHUNK_BYTES ? buffer : buffer.subarray(0, bytesRead));
    }
  } catch (err) {
    await reading.catch(() => undefined); // no read left running on a handle the caller closes
    throw err;
  }
}

/**
 * Copies a dump file into a private directory, hashing what it copies, and refuses the copy unless it
 * has the manifest's SHA-256. pg_restore then reads the copy, so the bytes restored are the bytes
 * hashed: a file swapped on the backup storage at any moment cannot reach the restore, and each file
 * is read once (encrypted files need no copy: their plaintext is written privately and bound by the
 * GCM tag in the signed manifest).
 */
export async function copyVerified(
  from: string,
  to: string,
  expectedSha256: string,
  backupId: string,
  name: string,
): Promise<void> {
  const hash = createHash('sha256');
  // O_NOFOLLOW: a file swapped for a symlink after the listing was checked is still refused; 'wx':
  // the copy is created, never written through an existing file or symlink.
  const input = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  let output: FileHandle | undefined;
  let created = false;
  try {
    output = await open(to, 'wx', PRIVATE_FILE);
    created = true;
    const out = output;
    await eachChunk(input, async (chunk) => {
      hash.update(chunk);
      for (let at = 0; at < chunk.length; ) at += (await out.write(chunk, at, chunk.length - at)).bytesWritten;
    });
    await out.close();
    output = undefined;
    if (hash.digest('hex') !== expectedSha256) throw fileMismatch(backupId, name);
  } catch (err) {
    await output?.close().catch(() => undefined);
    if (created) rmSync(to, { force: true }); // only the copy this call made: 'wx' opens nothing else
    throw err;
  } finally {
    await input.close();
  }
}
