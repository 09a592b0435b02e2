import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { SecretProvider } from './provider.js';
import { SecretError } from './types.js';

/**
 * `file:/path` — e.g. a Kubernetes secret volume (read-only: writes fail with `read_only`) or a file
 * the CLI maintains.
 *
 * Read: the content with one trailing newline dropped (editors add one); the version is the SHA-256
 * of the bytes on disk. Write: atomic replace — a temporary file in the same directory (mode 0600; a
 * replaced file's owner, group and mode kept, less any access for others),
 * fsync, rename over the target, fsync of the directory — so a reader sees the old or the new secret,
 * never half of one, also across a crash. The value is written as given.
 *
 * Check-and-set (`expectedVersion`) compares the content hash under an exclusive `<path>.lock` file,
 * so two writers going through this provider cannot both win; a lock older than `staleLockMs` (left
 * by a crashed writer) is broken.
 */
export interface FileProviderOptions {
  staleLockMs?: number;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function fsError(err: unknown, path: string, action: 'read' | 'write'): SecretError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const cause = { cause: err };
  switch (code) {
    case 'ENOENT':
      return new SecretError(
        'not_found',
        action === 'read' ? `file:${path} does not exist` : `file:${path}: its directory does not exist`,
        cause,
      );
    case 'EACCES':
    case 'EPERM':
      return new SecretError('auth_failed', `file:${path}: permission denied (${action})`, cause);
    case 'EROFS':
      return new SecretError('read_only', `file:${path} is on a read-only file system (e.g. a Kubernetes secret volume)`, cause);
    case 'EISDIR':
      return new SecretError('invalid_reference', `file:${path} is a directory`, cause);
    default:
      return new SecretError('unavailable', `file:${path}: cannot ${action} (${code})`, cause);
  }
}

async function currentVersion(path: string): Promise<string | null> {
  try {
    return sha256(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(err, path, 'read');
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Who may read the file after a replace: a new file is 0600, owned by the writer; an existing one keeps
 * its owner, group and mode — less any access for others — so a service that reads it through its
 * group (a Kubernetes fsGroup, a `rampart` group) still can, and never silently keeps an old key
 * because the rotated file became unreadable to it (issue 26).
 */
async function accessOf(path: string): Promise<{ mode: number; uid: number; gid: number } | undefined> {
  try {
    const s = await stat(path);
    return { mode: s.mode & 0o770, uid: s.uid, gid: s.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, path, 'write');
  }
}

async function atomicReplace(path: string, content: Buffer): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const existing = await accessOf(path);
  let created = false;
  try {
    const handle = await open(tmp, 'wx', 0o600);
    created = true;
    try {
      await handle.chmod(0o600); // whatever the umask; widened below only to what the file had
      if (existing) {
        try {
          await handle.chown(existing.uid, existing.gid);
        } catch (err) {
          throw new SecretError(
            'auth_failed',
            `file:${path} belongs to uid ${existing.uid} / gid ${existing.gid}, which this writer cannot give the new file: write it as that user (the file is unchanged)`,
            { cause: err },
          );
        }
        await handle.chmod(existing.mode | 0o600);
      }
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    created = false;
    await fsyncDirectory(dir);
  } catch (err) {
    if (created) await unlink(tmp).catch(() => undefined);
    throw err instanceof SecretError ? err : fsError(err, path, 'write');
  }
}

async function withLock<T>(path: string, staleLockMs: number, body: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  for (let attempt = 0; attempt < 2 && !handle; attempt++) {
    try {
      handle = await open(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, path, 'write');
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => Number.POSITIVE_INFINITY, // released meanwhile: try again
      );
      if (age < staleLockMs) {
        throw new SecretError('conflict', `file:${path} is being written by another writer (${basename(lock)} exists)`);
      }
      await unlink(lock).catch(() => undefined);
    }
  }
  if (!handle) throw new SecretError('conflict', `file:${path} is being written by another writer`);
  await handle.close();
  try {
    return await body();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

export function createFileProvider(options: FileProviderOptions = {}): SecretProvider<'file'> {
  const staleLockMs = options.staleLockMs ?? 30_000;
  return {
    async read(ref) {
      let raw: Buffer;
      try {
        raw = await readFile(ref.path);
      } catch (err) {
        throw fsError(err, ref.path, 'read');
      }
      return { value: raw.toString('utf8').replace(/\r?\n$/, ''), version: sha256(raw) };
    },

    async write(ref, value, writeOptions = {}) {
      const content = Buffer.from(value, 'utf8');
      const expected = writeOptions.expectedVersion;
      if (expected === undefined) {
        await atomicReplace(ref.path, content);
      } else {
        await withLock(ref.path, staleLockMs, async () => {
          const current = await currentVersion(ref.path);
          if (current !== expected) {
            throw new SecretError(
              'conflict',
              expected === null
              ? `file:${ref.path} already exists`
              : current === null
                ? `file:${ref.path} no longer exists`
                : `file:${ref.path} changed since it was read`,
            );
          }
          await atomicReplace(ref.path, content);
        });
      }
      return { version: sha256(content) };
    },
  };
}
