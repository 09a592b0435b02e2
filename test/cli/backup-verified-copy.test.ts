import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Manifest, StoredBackup } from '../../cli/src/lib/backup/manifest.js';
import { plainDump } from '../../cli/src/lib/backup/restore.js';
import { tempDir } from './backup-fixtures.js';

/**
 * An unencrypted backup is restored from a private copy whose bytes were hashed as they were copied:
 * a dump file swapped on the storage after the up-front check (verifyDumpFiles) never reaches pg_restore.
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

describe('the plaintext view of an unencrypted backup', () => {
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

  it('refuses a file swapped after the up-front check (same size, other bytes) and leaves no copy behind', async (t) => {
    const backup = backupWith(t, { 'toc.dat': 'table of contents', '3001.dat.gz': 'rows' });
    writeFileSync(join(backup.dir, 'dump', '3001.dat.gz'), 'ROWS'); // after verifyDumpFiles would have passed
    await assert.rejects(plainDump(backup, undefined, 2), (err: Error & { exitCode?: number }) => {
      assert.match(err.message, /3001\.dat\.gz changed after it was checked/);
      assert.equal(err.exitCode, 65);
      return true;
    });
    assert.deepEqual(readdirSync(backup.dir).sort(), ['dump'], 'the partial copy is removed');
  });
});
