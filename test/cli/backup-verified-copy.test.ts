import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs, { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { describe, it, type mock } from 'node:test';
import type { Manifest, StoredBackup } from '../../cli/src/lib/backup/manifest.js';
import { encryptFile, keyId } from '../../cli/src/lib/backup/encryption.js';
import { sha256File } from '../../cli/src/lib/backup/dump-integrity.js';
import { plainDump } from '../../cli/src/lib/backup/restore.js';
import { tempDir } from './backup-fixtures.js';

/**
 * An unencrypted backup is restored from a private copy whose bytes were hashed as they were copied:
 * the bytes pg_restore reads are the bytes checked against the signed manifest, each file read once,
 * and a file swapped on the storage never reaches pg_restore. An encrypted one is hashed as it is
 * decrypted, in the same read, and its plaintext is deleted unless both its tag and its hash match.
 */
function backupWith(t: { after(fn: () => void): void }, contents: Record<string, string>): StoredBackup {
  const dir = tempDir('verified-copy');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'dump'));
  const files = Object.entries(contents).map(([path, text]) => {
    writeFileSync(join(dir, 'dump', path), text);
    return { path, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  });
  return { dir, manifest: { id: '20261206T000000Z', encryption: null, files } as unknown as Manifest };
}

/** Every path the code under test opens for reading (ESM named imports follow after syncBuiltinESMExports). */
function countOpens(t: { after(fn: () => void): void; mock: { method: typeof mock.method; restoreAll(): void } }): string[] {
  const opened: string[] = [];
  const open = fsPromises.open;
  const createReadStream = fs.createReadStream;
  t.mock.method(fsPromises, 'open', (path: string, ...rest: unknown[]) => {
    opened.push(String(path));
    return (open as (...a: unknown[]) => unknown)(path, ...rest);
  });
  t.mock.method(fs, 'createReadStream', (path: string, ...rest: unknown[]) => {
    opened.push(String(path));
    return (createReadStream as (...a: unknown[]) => unknown)(path, ...rest);
  });
  syncBuiltinESMExports();
  t.after(() => {
    t.mock.restoreAll();
    syncBuiltinESMExports();
  });
  return opened;
}

describe('the plaintext view of a backup', () => {
  it('is a private copy with the signed bytes, removed by dispose', async (t) => {
    const backup = backupWith(t, { 'toc.dat': 'table of contents', '3001.dat.gz': 'rows' });
    const dump = await plainDump(backup, undefined, 2);
    assert.notEqual(dump.dir, join(backup.dir, 'dump'), 'pg_restore reads the copy, not the storage');
    assert.equal(statSync(dump.dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dump.dir).sort(), ['3001.dat.gz', 'toc.dat']);
    assert.equal(readFileSync(join(dump.dir, '3001.dat.gz'), 'utf8'), 'rows');
    assert.equal(statSync(join(dump.dir, 'toc.dat')).mode & 0o777, 0o600);
    dump.dispose();
    assert.deepEqual(readdirSync(backup.dir).sort(), ['dump']);
  });

  it('refuses a file with other bytes of the same size and leaves no copy behind', async (t) => {
    const backup = backupWith(t, { 'toc.dat': 'table of contents', '3001.dat.gz': 'rows' });
    writeFileSync(join(backup.dir, 'dump', '3001.dat.gz'), 'ROWS'); // swapped on the storage: same size
    await assert.rejects(plainDump(backup, undefined, 2), (err: Error & { exitCode?: number; code?: string }) => {
      assert.match(err.message, /3001\.dat\.gz does not match its SHA-256 in the signed manifest/);
      assert.equal(err.code, 'backup_file_mismatch');
      assert.equal(err.exitCode, 65);
      return true;
    });
    assert.deepEqual(readdirSync(backup.dir).sort(), ['dump'], 'the partial copy is removed');
  });

  it('reads each file once: the bytes copied are the bytes hashed', async (t) => {
    const backup = backupWith(t, { 'toc.dat': 'table of contents', '3001.dat.gz': 'rows', '3002.dat.gz': 'more rows' });
    const opened = countOpens(t);
    const dump = await plainDump(backup, undefined, 2);
    t.after(() => dump.dispose());
    const reads = opened.filter((path) => path.startsWith(join(backup.dir, 'dump')));
    assert.deepEqual(
      reads.sort(),
      ['3001.dat.gz', '3002.dat.gz', 'toc.dat'].map((name) => join(backup.dir, 'dump', name)),
    );
  });

  it('copies and hashes files of several reads, an empty one, and refuses a change in the last partial read', async (t) => {
    // The copy reads 1 MiB at a time into two buffers in turn: the bytes of every read, the short last
    // one included, are the bytes hashed and written, in order.
    const dir = tempDir('verified-copy-large');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'dump'));
    const contents: Record<string, Buffer> = {
      '3002.dat.gz': randomBytes(3 * 1024 * 1024 + 12_345),
      '3003.dat.gz': randomBytes(2 * 1024 * 1024),
      'toc.dat': Buffer.alloc(0),
    };
    const files = Object.entries(contents).map(([path, bytes]) => {
      writeFileSync(join(dir, 'dump', path), bytes);
      return { path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    });
    const backup = { dir, manifest: { id: '20261206T000000Z', encryption: null, files } as unknown as Manifest };
    const dump = await plainDump(backup, undefined, 2);
    for (const [path, bytes] of Object.entries(contents))
      assert.ok(readFileSync(join(dump.dir, path)).equals(bytes), `${path} copied byte for byte`);
    dump.dispose();
    assert.equal(await sha256File(join(dir, 'dump', '3002.dat.gz')), files[0]?.sha256);

    const altered = Buffer.from(contents['3002.dat.gz'] as Buffer);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    writeFileSync(join(dir, 'dump', '3002.dat.gz'), altered);
    await assert.rejects(
      plainDump(backup, undefined, 2),
      (err: Error & { code?: string }) => err.code === 'backup_file_mismatch',
    );
    assert.deepEqual(readdirSync(dir).sort(), ['dump'], 'no copy is left');
  });

  it('checks the table of contents first and hands over its checked copy before the data files are done', async (t) => {
    const backup = backupWith(t, {
      '3001.dat.gz': 'many rows'.repeat(1000),
      '3002.dat.gz': 'rows',
      'toc.dat': 'table of contents',
    });
    const seen: { dir: string; files: string[]; toc: string }[] = [];
    const onTocChecked = (dir: string) =>
      seen.push({ dir, files: readdirSync(dir).sort(), toc: readFileSync(join(dir, 'toc.dat'), 'utf8') });
    const dump = await plainDump(backup, undefined, 1, { onTocChecked });
    assert.deepEqual(
      seen,
      [{ dir: dump.dir, files: ['toc.dat'], toc: 'table of contents' }],
      'once, from the private copy, before any data file',
    );
    dump.dispose();

    writeFileSync(join(backup.dir, 'dump', 'toc.dat'), 'table of CONTENTS'); // same size, other bytes
    seen.length = 0;
    await assert.rejects(
      plainDump(backup, undefined, 2, { onTocChecked }),
      (err: Error & { code?: string }) => err.code === 'backup_file_mismatch',
    );
    assert.deepEqual(seen, [], 'an altered table of contents is never handed over');
  });

  it('refuses a missing, an extra or a resized file before copying anything', async (t) => {
    for (const [change, code] of [
      [(dir: string) => rmSync(join(dir, 'dump', '3001.dat.gz')), 'unsafe_backup_path'],
      [(dir: string) => writeFileSync(join(dir, 'dump', '3001.dat'), 'grafted'), 'backup_file_unexpected'],
      [(dir: string) => writeFileSync(join(dir, 'dump', 'toc.dat'), 'a longer table of contents'), 'backup_file_mismatch'],
    ] as const) {
      const backup = backupWith(t, { 'toc.dat': 'table of contents', '3001.dat.gz': 'rows' });
      change(backup.dir);
      await assert.rejects(plainDump(backup, undefined, 2), (err: Error & { code?: string }) => err.code === code);
      assert.deepEqual(readdirSync(backup.dir).sort(), ['dump'], `${code}: no copy was started`);
    }
  });

  it('hashes an encrypted backup as it decrypts it, and keeps no plaintext of an altered file', async (t) => {
    const key = randomBytes(32);
    const dir = tempDir('verified-decrypt');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'dump'));
    const file = async (name: string, text: string) => {
      writeFileSync(join(dir, 'plain.dat'), text);
      const sealed = await encryptFile(key, join(dir, 'plain.dat'), join(dir, 'dump', `${name}.enc`), name);
      rmSync(join(dir, 'plain.dat'));
      const cipher = readFileSync(join(dir, 'dump', `${name}.enc`));
      return { path: `${name}.enc`, bytes: cipher.length, sha256: createHash('sha256').update(cipher).digest('hex'), ...sealed };
    };
    const files = [await file('toc.dat', 'table of contents'), await file('3001.dat', 'rows')];
    const backup = { dir, manifest: { id: '20261206T000000Z', encryption: { keyId: keyId(key) }, files } as unknown as Manifest };
    const opened = countOpens(t);

    const dump = await plainDump(backup, key, 2);
    assert.equal(readFileSync(join(dump.dir, '3001.dat'), 'utf8'), 'rows');
    assert.deepEqual(opened.filter((path) => path.startsWith(join(dir, 'dump'))).sort(), [
      join(dir, 'dump', '3001.dat.enc'),
      join(dir, 'dump', 'toc.dat.enc'),
    ]);
    dump.dispose();

    const cipher = readFileSync(join(dir, 'dump', '3001.dat.enc'));
    cipher[0] = (cipher[0] as number) ^ 1; // altered on the storage, same size: its tag fails too
    writeFileSync(join(dir, 'dump', '3001.dat.enc'), cipher);
    await assert.rejects(plainDump(backup, key, 2), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'backup_file_mismatch', 'refused as altered, as before the hash and the decryption shared a read');
      return true;
    });
    assert.deepEqual(readdirSync(dir).sort(), ['dump'], 'no plaintext is left');
  });
});
