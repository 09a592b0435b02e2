import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE } from '../private-files.js';

/**
 * Files that survive a crash or power loss once these functions return: data is fsynced, then made
 * visible by an atomic rename, then the directory entry itself is fsynced (without the last step a
 * crash can forget the rename even though the data blocks are on disk).
 */

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `name` in `dir` all-or-nothing, 0600; a crash leaves either nothing or a `.tmp` to discard. */
export async function writeFileDurably(dir: string, name: string, data: Buffer | string): Promise<void> {
  const temporary = join(dir, `${name}.tmp`);
  await unlink(temporary).catch(() => undefined);
  const handle = await open(temporary, 'wx', PRIVATE_FILE);
  try {
    await handle.chmod(PRIVATE_FILE); // whatever the umask
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, join(dir, name));
  await fsyncDirectory(dir);
}

/** Appends one line and fsyncs it (the file 0600); a crash mid-append can only tear the last line. */
export async function appendLineDurably(file: string, line: string): Promise<void> {
  const handle = await open(file, 'a', PRIVATE_FILE);
  try {
    await handle.chmod(PRIVATE_FILE);
    await handle.writeFile(`${line}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
