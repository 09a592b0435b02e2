import { chmodSync, constants, createWriteStream, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Backups and retention archives hold every user's data: files are 0600 and directories 0700,
 * whatever the process umask (issue 22). A `mode` given at creation is only ever narrowed by the
 * umask, but files that another program writes (pg_dump's, created 0666 & ~umask) or that already
 * existed are not covered by it — hence the explicit chmod.
 */
export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** Creates `dir` (and missing parents) 0700; an existing directory keeps its mode. */
export function ensureDirectory(dir: string): void {
  const created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  if (created) chmodSync(dir, PRIVATE_DIR);
}

/** Creates `dir`, which must not exist yet, 0700 (the parent must exist). */
export function createPrivateDirectory(dir: string): void {
  mkdirSync(dir, { mode: PRIVATE_DIR });
  chmodSync(dir, PRIVATE_DIR);
}

/**
 * Streams `from` through `transform` into a new private file `to`. `from` is opened O_NOFOLLOW (a file
 * swapped for a symlink after it was checked is still refused) and `to` is created exclusively ('wx':
 * never through an existing file or symlink); on any failure `to` is removed — only when this call
 * created it, never a file it refused to open.
 */
export async function streamToPrivateFile(from: string, to: string, transform: Transform): Promise<void> {
  let created = false;
  try {
    const input = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW);
    const output = createWriteStream(to, { mode: PRIVATE_FILE, flags: 'wx' });
    output.once('open', () => {
      created = true;
    });
    await pipeline(input.createReadStream({ highWaterMark: 1 << 20 }), transform, output);
  } catch (err) {
    if (created) rmSync(to, { force: true });
    throw err;
  }
}

export function writePrivateFile(path: string, data: string | Buffer): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE });
  chmodSync(path, PRIVATE_FILE);
}

/** Makes every directory under `dir` (itself included) 0700 and every file 0600; symlinks are left alone. */
export function restrictTree(dir: string): void {
  chmodSync(dir, PRIVATE_DIR);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) restrictTree(path);
    else if (lstatSync(path).isFile()) chmodSync(path, PRIVATE_FILE);
  }
}
