import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, secops, seededDatabase, tempDir } from './backup-fixtures.js';
import { fileModes } from '../helpers/file-modes.js';

const skip = await backupPrerequisites();

function assertPrivate(dir: string) {
  const found = fileModes(dir);
  assert.ok(
    found.some((f) => f.path.endsWith('toc.dat') || f.path.endsWith('toc.dat.enc')),
    'the dump is there',
  );
  for (const f of found) assert.equal(f.mode, f.kind === 'dir' ? 0o700 : 0o600, `${f.path} is ${f.mode.toString(8)}`);
}

describe('backups are written 0600 in 0700 directories whatever the umask', { skip }, () => {
  let source: TestDatabase;
  let root: string;
  let keyFile: string;
  before(async () => {
    source = await seededDatabase(20);
    root = tempDir('private');
    keyFile = join(root, 'backup.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
  });
  after(async () => {
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  for (const umask of [0o022, 0o000]) {
    for (const encrypted of [false, true]) {
      it(`under umask ${umask.toString(8).padStart(3, '0')}, ${encrypted ? 'an encrypted' : 'a plain'} backup, its dump and its drill report are private`, async (t) => {
        const previous = process.umask(umask);
        t.after(() => process.umask(previous));
        const backups = join(root, `umask-${umask}-${encrypted}`, 'backups');
        const key = encrypted ? ['--encrypt-key-file', keyFile] : [];
        const created = await secops(['--json', 'backup', 'create', '--dir', backups, ...key], source.url as string);
        assert.equal(created.code, 0, created.stderr);
        assert.equal(statSync(backups).mode & 0o777, 0o700, 'the backup directory it created');
        const { dir } = JSON.parse(created.stdout) as { dir: string };
        const drill = await secops(['backup', 'drill', '--from', dir, ...key], source.url as string);
        assert.equal(drill.code, 0, drill.stderr);
        assert.ok(readdirSync(dir).some((f) => f.startsWith('drill-')));
        assertPrivate(dir);
      });
    }
  }
});
