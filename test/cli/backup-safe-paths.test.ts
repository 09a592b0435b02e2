import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '../../cli/src/lib/backup/manifest.js';
import { dumpFilePath, unsafeNameReason } from '../../cli/src/lib/backup/safe-path.js';
import { parseSigningKeyring, signManifest } from '../../cli/src/lib/backup/signing.js';
import { withClient } from '../../cli/src/lib/backup/restore.js';
import type { TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, emptyDatabase, secops, seededDatabase, tempDir, TEST_SIGNING_KEYRING } from './backup-fixtures.js';

const skip = await backupPrerequisites();

describe('manifest file names', () => {
  it('a plain dump file name resolves inside the dump directory', () => {
    assert.equal(unsafeNameReason('toc.dat'), undefined);
    assert.equal(unsafeNameReason('3456.dat.gz.enc'), undefined);
    assert.equal(dumpFilePath('/backups/x/dump', '3456.dat.gz.enc'), '/backups/x/dump/3456.dat.gz.enc');
  });

  it('`..`, absolute, NUL, separators and empty names are refused', () => {
    for (const name of [
      '../../../victim/important.txt.enc',
      '..',
      '/etc/passwd',
      'C:\\x',
      'a\0b',
      'sub/file',
      'sub\\..\\x',
      '',
      '.',
    ]) {
      assert.notEqual(unsafeNameReason(name), undefined, JSON.stringify(name));
      assert.throws(() => dumpFilePath('/backups/x/dump', name), { code: 'unsafe_backup_path' }, JSON.stringify(name));
    }
  });
});

describe('backup prune never follows a link out of the backup directory', () => {
  it('a symlinked "backup" pointing at a directory outside is neither listed nor deleted', async (t) => {
    const root = tempDir('prune-links');
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const outside = join(root, 'outside');
    const backups = join(root, 'backups');
    mkdirSync(join(outside, 'dump'), { recursive: true });
    mkdirSync(backups);
    const manifest = (id: string, createdAt: string) => ({
      format: 1,
      id,
      createdAt,
      source: { host: 'db', port: 5432, database: 'rampart' },
      serverVersion: '15',
      pgDumpVersion: 'pg_dump (PostgreSQL) 15',
      snapshot: 's',
      jobs: 1,
      migrationHead: null,
      checksumAlgorithm: 'sha256',
      databaseBytes: 0,
      dumpBytes: 0,
      timings: { dumpMs: 0, statsMs: 0, encryptMs: 0, totalMs: 0 },
      encryption: null,
      tables: [],
      files: [],
    });
    // The victim looks like an old backup: a prune that followed the link would delete it.
    writeFileSync(join(outside, 'manifest.json'), JSON.stringify(manifest('20200101T000000Z', '2020-01-01T00:00:00.000Z')));
    symlinkSync(outside, join(backups, '20200101T000000Z'));
    mkdirSync(join(backups, '20261127T221500Z', 'dump'), { recursive: true });
    writeFileSync(
      join(backups, '20261127T221500Z', 'manifest.json'),
      JSON.stringify(manifest('20261127T221500Z', '2026-11-27T22:15:00.000Z')),
    );

    const run = await secops(
      ['--json', 'backup', 'prune', '--dir', backups, '--keep-daily', '0', '--keep-weekly', '0'],
      undefined,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { deleted: unknown[] }).deleted, []);
    assert.ok(existsSync(join(outside, 'manifest.json')), 'the directory behind the link is intact');
    assert.ok(existsSync(join(backups, '20200101T000000Z')), 'the link itself is left for a person to look at');
  });
});

/**
 * Issue 22's finding, reproduced: someone who can write to the backup storage (not read the keys)
 * edits manifest.json or the dump directory. A restore or drill must refuse before it opens,
 * truncates, decrypts or deletes anything — the victim file outside the backup keeps its content
 * and its mtime.
 */
describe('backup restore and drill refuse manifest paths that leave the backup', { skip }, () => {
  let source: TestDatabase;
  let url: string;
  let root: string;
  let keyFile: string;
  let pristine: string;

  before(async () => {
    source = await seededDatabase(50);
    url = source.url as string;
    root = tempDir('safe-paths');
    keyFile = join(root, 'backup.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
    const run = await secops(['--json', 'backup', 'create', '--dir', join(root, 'backups'), '--encrypt-key-file', keyFile], url);
    assert.equal(run.code, 0, run.stderr);
    pristine = (JSON.parse(run.stdout) as { dir: string }).dir;
  });
  after(async () => {
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A copy of the good backup, a victim file outside it, and what the victim looked like. */
  /**
   * A copy of the good backup (under its own id: a renamed one is refused before any path is read), a
   * victim file outside it, and what the victim looked like. The signature is the first defence: an
   * attacker who cannot sign is refused before any path is used (the `..` case checks that). These
   * tests then re-sign the tampered manifest with the tests' key — a leaked key, or a bug in whatever
   * signed it — to show that the path checks hold on their own.
   */
  function stage(name: string) {
    const backupDir = join(root, name, 'backups', basename(pristine));
    cpSync(pristine, backupDir, { recursive: true });
    const victimDir = join(root, name, 'victim');
    mkdirSync(victimDir);
    const victim = join(victimDir, 'important.txt');
    writeFileSync(victim, 'do not touch\n');
    const before = statSync(victim).mtimeMs;
    const manifestFile = join(backupDir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    const biggest = manifest.files.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    return {
      backupDir,
      victimDir,
      victim,
      manifest,
      biggest,
      saveManifest: (options: { sign: boolean } = { sign: true }) => {
        const { signature: _old, ...unsigned } = manifest;
        const signature = options.sign ? signManifest(unsigned, parseSigningKeyring(TEST_SIGNING_KEYRING)) : _old;
        writeFileSync(manifestFile, JSON.stringify({ ...unsigned, signature }));
      },
      assertVictimIntact() {
        assert.equal(readFileSync(victim, 'utf8'), 'do not touch\n', 'the victim keeps its content');
        assert.equal(statSync(victim).mtimeMs, before, 'the victim keeps its mtime');
        assert.ok(
          !readdirSync(backupDir).some((f) => f.startsWith('.decrypted-') || f.startsWith('drill-')),
          'nothing was written in the backup',
        );
      },
    };
  }

  async function assertRefusedEverywhere(staged: ReturnType<typeof stage>) {
    const target = await emptyDatabase();
    try {
      const restore = await secops(
        ['backup', 'restore', '--from', staged.backupDir, '--to', target.url, '--encrypt-key-file', keyFile],
        url,
      );
      staged.assertVictimIntact();
      assert.equal(restore.code, 1, restore.stderr);
      assert.match(restore.stderr, /refusing the backup|not a regular file/);
      const tables = await withClient(target.url, (c) =>
        c.query("select count(*)::int as n from pg_tables where schemaname = 'public'"),
      );
      assert.equal(tables.rows[0].n, 0, 'nothing was restored');
    } finally {
      await target.drop();
    }
    const drill = await secops(['backup', 'drill', '--from', staged.backupDir, '--encrypt-key-file', keyFile], url);
    staged.assertVictimIntact();
    assert.equal(drill.code, 1, drill.stderr);
    assert.match(drill.stderr, /refusing the backup|not a regular file/);
  }

  it('a manifest path with `..` reaching a file outside is refused and the file stays intact', async () => {
    const staged = stage('dotdot');
    // The exact path of the review: from the dump (and the decryption directory beside it) to the victim.
    staged.biggest.path = `${relative(join(staged.backupDir, 'dump'), staged.victim)}.enc`;
    assert.match(staged.biggest.path, /^\.\.\/\.\.\/\.\.\/victim\/important\.txt\.enc$/);
    // Without the signing key, the altered manifest fails its signature before any path is used.
    staged.saveManifest({ sign: false });
    const unsigned = await secops(['backup', 'drill', '--from', staged.backupDir, '--encrypt-key-file', keyFile], url);
    staged.assertVictimIntact();
    assert.equal(unsigned.code, 65, unsigned.stderr);
    assert.match(unsigned.stderr, /bad_signature/);
    staged.saveManifest();
    await assertRefusedEverywhere(staged);
  });

  it('an absolute manifest path is refused and the file stays intact', async () => {
    const staged = stage('absolute');
    staged.biggest.path = `${staged.victim}.enc`;
    staged.saveManifest();
    await assertRefusedEverywhere(staged);
  });

  it('a dump file replaced by a symlink to a file outside is refused and the file stays intact', async () => {
    const staged = stage('symlinked-file');
    const linked = join(staged.backupDir, 'dump', staged.biggest.path);
    rmSync(linked);
    symlinkSync(staged.victim, linked);
    await assertRefusedEverywhere(staged);
  });

  it('a dump directory replaced by a symlink to a directory outside is refused and its files stay intact', async () => {
    const staged = stage('symlinked-dir');
    const dump = join(staged.backupDir, 'dump');
    // The attacker's directory holds the dump's files (so every manifest name exists) and the victim.
    for (const f of readdirSync(dump)) renameSync(join(dump, f), join(staged.victimDir, f));
    rmSync(dump, { recursive: true });
    symlinkSync(staged.victimDir, dump);
    await assertRefusedEverywhere(staged);
    assert.ok(existsSync(join(staged.victimDir, staged.biggest.path)), 'the files behind the link are untouched');
  });

  it('the untampered copy still restores and drills (the checks refuse only what is unsafe)', async () => {
    const drill = await secops(['backup', 'drill', '--from', pristine, '--encrypt-key-file', keyFile], url);
    assert.equal(drill.code, 0, drill.stderr);
  });
});
