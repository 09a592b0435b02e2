import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupRefusedError } from './catalog.js';
import { streamToPrivateFile } from '../private-files.js';
import { forEachLimit } from './limit.js';
import { DUMP_DIR, type StoredBackup } from './manifest.js';

/**
 * The dump directory holds exactly the files the (verified) manifest lists, each of the recorded size
 * and SHA-256: checked before a byte of it is decrypted or restored. Extra files are refused too —
 * pg_restore opens `1234.dat` before `1234.dat.gz`, so a file added next to a listed one would be
 * restored in its place. Format-1 manifests (accepted with --allow-unsigned) have sizes only.
 */
export async function verifyDumpFiles(backup: StoredBackup, jobs: number): Promise<void> {
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
  // Largest first, so that one big table file does not start last.
  const byBytes = [...files].filter((f) => f.sha256).sort((a, b) => b.bytes - a.bytes);
  await forEachLimit(byBytes, Math.max(1, jobs), async (f) => {
    const actual = await sha256File(join(dumpDir, f.path));
    if (actual !== f.sha256)
      throw new BackupRefusedError(
        `backup ${id}: ${f.path} does not match its SHA-256 in the signed manifest (replaced or altered)`,
        'file_mismatch',
      );
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * Copies a dump file into a private directory, hashing what it copies, and refuses the copy unless it
 * has the manifest's SHA-256. pg_restore then reads the copy: a file swapped on the backup storage
 * after verifyDumpFiles checked it cannot reach the restore (encrypted files need no copy: their
 * plaintext is written privately and bound by the GCM tag in the signed manifest).
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
    throw new BackupRefusedError(
      `backup ${backupId}: ${name} changed after it was checked (its copy does not match the SHA-256 in the signed manifest)`,
      'file_mismatch',
    );
  }
}
