import { lstatSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { CliError } from '../errors.js';
import { DUMP_DIR, type StoredBackup } from './manifest.js';

/**
 * Paths taken from a manifest are attacker input: whoever can write to the backup storage can edit
 * manifest.json (issue 22: `files[].path` = `../../../victim/important.txt.enc` made a restore
 * truncate and delete that file). Every one is checked here before any file is opened, decrypted or
 * deleted, and refused unless it names a regular file directly inside the backup's dump directory.
 *
 * pg_dump's directory format is flat (toc.dat and <dumpId>.dat[.gz]), so a manifest path must be one
 * plain file name: no separator, no `..`, no absolute path, no NUL. Symlinks are refused outright —
 * the dump directory itself, any entry in it, whatever they point at — rather than resolved and
 * compared: a link inside that points inside has no legitimate use, and refusing all of them leaves
 * no check-then-use gap for a link that is swapped between the check and the open.
 */

export class UnsafeBackupPathError extends CliError {
  constructor(message: string) {
    super(message, { code: 'unsafe_backup_path' });
  }
}

/** Why `name` cannot be a file of a dump directory, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (name.split(/[/\\]/).some((segment) => segment === '..')) return 'contains a `..` segment';
  if (/[/\\]/.test(name)) return 'is not a plain file name (the dump directory is flat)';
  if (name === '.') return 'names the dump directory itself';
  return undefined;
}

/**
 * The absolute path of manifest file `name` inside `dumpDir`, after checking the name (see above)
 * and that the result is still under `dumpDir`.
 */
export function dumpFilePath(dumpDir: string, name: string): string {
  const reason = unsafeNameReason(name);
  if (reason) throw new UnsafeBackupPathError(`manifest file path ${JSON.stringify(name)} ${reason}: refusing the backup`);
  const path = resolve(dumpDir, name);
  const rel = relative(resolve(dumpDir), path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new UnsafeBackupPathError(`manifest file path ${JSON.stringify(name)} leaves the dump directory: refusing the backup`);
  }
  return path;
}

/**
 * Checks a whole backup before it is used: the dump directory is a real directory (not a symlink),
 * holds no symlink or other non-regular entry, and every manifest path is a safe name of a regular
 * file in it, listed once. Throws UnsafeBackupPathError naming the first problem; touches nothing.
 */
export function assertSafeBackup(backup: StoredBackup): void {
  const dumpDir = join(backup.dir, DUMP_DIR);
  const stat = lstatOrUndefined(dumpDir);
  if (!stat) throw new UnsafeBackupPathError(`${dumpDir} does not exist: not a complete backup`);
  if (stat.isSymbolicLink()) throw new UnsafeBackupPathError(`${dumpDir} is a symbolic link: refusing the backup`);
  if (!stat.isDirectory()) throw new UnsafeBackupPathError(`${dumpDir} is not a directory: refusing the backup`);
  for (const entry of readdirSync(dumpDir, { withFileTypes: true })) {
    if (entry.isSymbolicLink())
      throw new UnsafeBackupPathError(`${join(dumpDir, entry.name)} is a symbolic link: refusing the backup`);
    if (!entry.isFile())
      throw new UnsafeBackupPathError(`${join(dumpDir, entry.name)} is not a regular file: refusing the backup`);
  }
  const seen = new Set<string>();
  for (const file of backup.manifest.files) {
    const path = dumpFilePath(dumpDir, file.path);
    if (seen.has(file.path))
      throw new UnsafeBackupPathError(`manifest lists ${JSON.stringify(file.path)} twice: refusing the backup`);
    seen.add(file.path);
    const fileStat = lstatOrUndefined(path);
    if (!fileStat) throw new UnsafeBackupPathError(`manifest file ${JSON.stringify(file.path)} is missing from ${dumpDir}`);
    if (fileStat.isSymbolicLink() || !fileStat.isFile()) {
      throw new UnsafeBackupPathError(`manifest file ${JSON.stringify(file.path)} is not a regular file: refusing the backup`);
    }
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
