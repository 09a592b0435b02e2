import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '../../cli/src/lib/backup/manifest.js';
import { generateSigningKeyring } from '../../cli/src/lib/backup/signing.js';
import { adminQuery, type TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, emptyDatabase, fabricateBackup, secops, seededDatabase, tempDir } from './backup-fixtures.js';

/**
 * The hostile review of issue 22, against a real PostgreSQL: an attacker who can write the backup
 * storage but holds neither the encryption nor the signing key. Each finding reproduced, and refused
 * (exit 65) before a byte of the forged data reaches a database.
 */

const skip = await backupPrerequisites();

interface Created {
  id: string;
  dir: string;
}

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

describe('secops backup refuses forged, grafted and rolled-back backups', { skip }, () => {
  let source: TestDatabase;
  let url: string;
  let root: string;
  let keyFile: string;
  const tmp: string[] = [];

  async function create(dir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Created> {
    const run = await secops(['--json', 'backup', 'create', '--dir', dir, '--jobs', '2', ...extra], url, env);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as Created;
  }

  async function restoreInto(from: string, extra: string[] = [], env: Record<string, string> = {}) {
    const target = await emptyDatabase();
    try {
      const run = await secops(
        ['--json', 'backup', 'restore', '--from', from, '--to', target.url, '--encrypt-key-file', keyFile, ...extra],
        url,
        env,
      );
      const { rows } = await adminQuery(target.url, "select count(*)::int as n from pg_tables where schemaname = 'public'");
      return { ...run, restoredTables: (rows[0] as { n: number }).n };
    } finally {
      await target.drop();
    }
  }

  before(async () => {
    source = await seededDatabase(200);
    url = source.url as string;
    root = tempDir('authentic');
    keyFile = join(root, '..', `${root.split('/').at(-1)}.key`);
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
  });
  after(async () => {
    await source?.drop();
    rmSync(root, { recursive: true, force: true });
    rmSync(keyFile, { force: true });
    for (const d of tmp) rmSync(d, { recursive: true, force: true });
  });

  it('create signs a format-2 manifest with file hashes, the source identity, a sequence and its predecessor', async () => {
    const first = await create(root, ['--encrypt-key-file', keyFile]);
    const second = await create(root, ['--encrypt-key-file', keyFile]);
    const m1 = readManifest(first.dir);
    const m2 = readManifest(second.dir);
    assert.equal(m1.format, 2);
    assert.equal(m1.signature?.alg, 'EdDSA');
    assert.equal(m1.signature?.kid, 'test-signing');
    assert.equal(m2.sequence, (m1.sequence ?? 0) + 1);
    assert.deepEqual(m2.predecessor, {
      id: first.id,
      digest: createHash('sha256')
        .update(readFileSync(join(first.dir, 'manifest.json')))
        .digest('hex'),
    });
    for (const f of m2.files) {
      assert.equal(
        f.sha256,
        createHash('sha256')
          .update(readFileSync(join(second.dir, 'dump', f.path)))
          .digest('hex'),
        f.path,
      );
    }
    const { rows } = await source.db.knex.raw(
      'select (select system_identifier::text from pg_control_system()) as sid, (select oid::int from pg_database where datname = current_database()) as oid',
    );
    assert.deepEqual(m2.sourceIdentity, { systemIdentifier: rows[0].sid, databaseOid: rows[0].oid });
  });

  it('create refuses to run without BACKUP_SIGNING_KEY (exit 78) and writes nothing', async () => {
    const dir = tempDir('unsigned-create');
    tmp.push(dir);
    const run = await secops(['backup', 'create', '--dir', dir], url, { BACKUP_SIGNING_KEY: '' });
    assert.equal(run.code, 78, run.stderr);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a forged plaintext backup is refused with the encryption key configured: unsigned, attacker-signed or wrongly signed', async () => {
    const attacker = tempDir('attacker');
    tmp.push(attacker);
    // The attacker's own backup (plaintext, their data), dropped into our directory three ways.
    const forged = await create(attacker, [], { BACKUP_SIGNING_KEY: generateSigningKeyring('ed25519', 'attacker') });
    const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
      ['unknown kid', () => undefined, /refused \(unknown_kid\)/],
      ['no signature', (m) => delete m.signature, /refused \(unsigned\)/],
      ['our kid, another key', (m) => ((m.signature as { kid: string }).kid = 'test-signing'), /refused \(bad_signature\)/],
    ];
    for (const [label, change, expected] of cases) {
      const dir = join(root, forged.id);
      rmSync(dir, { recursive: true, force: true });
      cpSync(forged.dir, dir, { recursive: true });
      const m = readManifest(dir) as unknown as Record<string, unknown>;
      change(m);
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      const run = await restoreInto(dir);
      assert.equal(run.code, 65, `${label}: ${run.stderr}`);
      assert.match(run.stderr, expected, label);
      assert.equal(run.restoredTables, 0, `${label}: nothing was restored`);
      rmSync(dir, { recursive: true });
    }
  });

  it('a downgraded encryption flag (plaintext files under an encrypted backup’s manifest) is refused', async () => {
    const [real] = readdirSync(root)
      .filter((d) => /^\d{8}T\d{6}Z/.test(d))
      .sort();
    const dir = join(root, '..', `${root.split('/').at(-1)}-downgrade`);
    tmp.push(dir);
    const copy = join(dir, real as string);
    cpSync(join(root, real as string), copy, { recursive: true });
    const m = readManifest(copy);
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify({ ...m, encryption: null }));
    const run = await restoreInto(copy);
    assert.equal(run.code, 65, run.stderr);
    assert.match(run.stderr, /bad_signature/);
  });

  it('an older backup’s files grafted under a newer manifest are refused (SHA-256), as is a file added beside a listed one', async () => {
    const dir = tempDir('graft');
    tmp.push(dir);
    const older = await create(dir);
    await source.db.knex.raw("insert into users (email, password_hash) values ('late@example.test', 'x')");
    const newer = await create(dir);
    const newerDump = join(newer.dir, 'dump');
    const olderFiles = new Set(readdirSync(join(older.dir, 'dump')));
    for (const name of readdirSync(newerDump)) {
      if (olderFiles.has(name)) cpSync(join(older.dir, 'dump', name), join(newerDump, name));
    }
    const grafted = await restoreInto(newer.dir);
    assert.equal(grafted.code, 65, grafted.stderr);
    assert.match(grafted.stderr, /does not match its SHA-256|bytes, the signed manifest says/);
    assert.equal(grafted.restoredTables, 0);
    const drill = await secops(['--json', 'backup', 'drill', '--from', newer.dir], url);
    assert.equal(drill.code, 65, drill.stderr);

    // pg_restore opens 1234.dat before 1234.dat.gz: an unlisted plaintext file would be restored instead.
    const clean = await create(dir);
    const gz = readdirSync(join(clean.dir, 'dump')).find((f) => f.endsWith('.dat.gz')) as string;
    writeFileSync(join(clean.dir, 'dump', gz.replace(/\.gz$/, '')), 'forged rows\n');
    const added = await restoreInto(clean.dir);
    assert.equal(added.code, 65, added.stderr);
    assert.match(added.stderr, /holds files its manifest does not list/);
  });

  it('the drill never takes a 2099 backup or a copied old one for the latest; a copy given by name is refused', async () => {
    const dir = tempDir('latest');
    tmp.push(dir);
    const real = await create(dir);
    fabricateBackup(dir, '2099-01-01T00:00:00Z', { sequence: 99 });
    fabricateBackup(dir, '2098-01-01T00:00:00Z', { format: 1 });
    // Anyone can write a format-1 manifest dated now: with --allow-unsigned it still never beats a signed one.
    fabricateBackup(dir, new Date(Date.now() + 60_000).toISOString(), { format: 1 });
    const drill = await secops(['--json', 'backup', 'drill', '--dir', dir, '--allow-unsigned'], url);
    assert.equal(drill.code, 0, drill.stderr);
    const report = JSON.parse(drill.stdout) as { backup: { id: string }; latestSequence: number; rpoSeconds: number };
    assert.equal(report.backup.id, real.id);
    assert.ok(
      report.rpoSeconds >= 0 && report.rpoSeconds < 600,
      `the RPO is the real backup's age (${report.rpoSeconds}s), so --max-age can fail`,
    );
    assert.equal(report.latestSequence, readManifest(real.dir).sequence);

    const copy = join(dir, '20991231T000000Z');
    cpSync(real.dir, copy, { recursive: true });
    const again = await secops(['--json', 'backup', 'drill', '--dir', dir], url);
    assert.equal(JSON.parse(again.stdout).backup.id, real.id);
    const named = await secops(['backup', 'drill', '--from', copy], url);
    assert.equal(named.code, 65);
    assert.match(named.stderr, /id_mismatch/);
  });

  it('rotation: a backup signed by the old key restores under the new keyring, which signs new backups with its own kid', async () => {
    const dir = tempDir('rotation');
    tmp.push(dir);
    const oldRing = generateSigningKeyring('hs256', 'backup-2026');
    const before = await create(dir, [], { BACKUP_SIGNING_KEY: oldRing });
    const next = JSON.parse(generateSigningKeyring('ed25519', 'backup-2027')) as { signing: string; keys: unknown[] };
    const rotated = JSON.stringify({
      signing: next.signing,
      keys: [...next.keys, ...(JSON.parse(oldRing) as { keys: unknown[] }).keys],
    });
    const restored = await restoreInto(before.dir, [], { BACKUP_SIGNING_KEY: rotated });
    assert.equal(restored.code, 0, restored.stderr);
    const after = await create(dir, [], { BACKUP_SIGNING_KEY: rotated });
    const m = readManifest(after.dir);
    assert.equal(m.signature?.kid, 'backup-2027');
    assert.equal(m.predecessor?.id, before.id, 'the chain continues across the rotation');
    const unknown = await restoreInto(after.dir, [], { BACKUP_SIGNING_KEY: oldRing });
    assert.equal(unknown.code, 65);
    assert.match(unknown.stderr, /unknown_kid/);
  });

  it('--allow-unsigned restores a format-1 (pre-signing) backup, with a warning and "unsigned" in --json', async () => {
    const dir = tempDir('legacy');
    tmp.push(dir);
    const b = await create(dir);
    const { signature: _s, sequence: _q, predecessor: _p, sourceIdentity: _i, ...rest } = readManifest(b.dir);
    writeFileSync(
      join(b.dir, 'manifest.json'),
      JSON.stringify({ ...rest, format: 1, files: rest.files.map(({ sha256: _h, ...f }) => f) }),
    );
    const strict = await restoreInto(b.dir);
    assert.equal(strict.code, 65);
    assert.match(strict.stderr, /unsigned format-1 manifest.*--allow-unsigned/);
    const loose = await restoreInto(b.dir, ['--allow-unsigned'], { BACKUP_SIGNING_KEY: '' });
    assert.equal(loose.code, 0, loose.stderr);
    assert.match(loose.stderr, /warning: --allow-unsigned/);
    assert.equal((JSON.parse(loose.stdout) as { unsigned: boolean }).unsigned, true);
  });
});
