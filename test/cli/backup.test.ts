import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '../../cli/src/lib/backup/manifest.js';
import type { TestDatabase } from '../helpers/database.js';
import {
  backupPrerequisites,
  databaseExists,
  emptyDatabase,
  rehashFiles,
  resignManifest,
  secops,
  seededDatabase,
  TEST_SIGNING_KEYRING,
  tamperTableData,
  tempDir,
} from './backup-fixtures.js';

const skip = await backupPrerequisites();

interface CreateResult {
  id: string;
  dir: string;
}

describe('secops backup against a real PostgreSQL', { skip }, () => {
  let source: TestDatabase;
  let url: string;
  let root: string;
  let backup: CreateResult;
  let manifest: Manifest;

  async function create(dir: string, extra: string[] = []): Promise<CreateResult> {
    const run = await secops(['--json', 'backup', 'create', '--dir', dir, '--jobs', '2', ...extra], url);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as CreateResult;
  }

  async function drill(args: string[]) {
    const run = await secops(['--json', 'backup', 'drill', ...args], url);
    return { ...run, report: run.code === 0 ? JSON.parse(run.stdout) : undefined };
  }

  /** The newest drill report a drill wrote into the backup `dir` (its default place). */
  function latestDrillReport(dir: string) {
    const name = readdirSync(dir)
      .filter((f) => f.startsWith('drill-'))
      .sort()
      .at(-1);
    assert.ok(name, `no drill report in ${dir}`);
    return JSON.parse(readFileSync(join(dir, name), 'utf8'));
  }

  before(async () => {
    source = await seededDatabase(1500);
    url = source.url as string;
    root = tempDir('backups');
    backup = await create(root);
    manifest = JSON.parse(readFileSync(join(backup.dir, 'manifest.json'), 'utf8')) as Manifest;
  });
  after(async () => {
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('create writes a manifest whose every table count equals count(*) at the snapshot', async () => {
    assert.match(manifest.id, /^\d{8}T\d{6}Z$/);
    const tables = (await source.db.knex.raw("select tablename from pg_tables where schemaname = 'public' order by 1")).rows.map(
      (r: { tablename: string }) => r.tablename,
    );
    assert.deepEqual(manifest.tables.map((t) => t.name), tables);
    for (const t of manifest.tables) {
      const { rows } = await source.db.knex.raw(`select count(*)::int as n from "${t.name}"`);
      assert.equal(t.rows, rows[0].n, `${t.name} count`);
      assert.match(t.checksum, /^[0-9a-f]{64}$|^empty$/, 'sha256, the default');
    }
    assert.equal(manifest.tables.find((t) => t.name === 'messages')?.rows, 4500);
    // The newest migration of the repository (file names sort by their UTC timestamp).
    const head = readdirSync(join(import.meta.dirname, '../../migrations')).filter((f) => f.endsWith('.ts')).sort().at(-1)?.replace(/\.ts$/, '');
    assert.equal(manifest.migrationHead, head);
    assert.equal(manifest.encryption, null);
    assert.ok(existsSync(join(backup.dir, 'dump', 'toc.dat')));
    assert.match(manifest.pgDumpVersion, /pg_dump \(PostgreSQL\) \d+/);
    assert.ok(!JSON.stringify(manifest).includes('postgres://'), 'the manifest holds no connection URL');
  });

  it('list shows the backup newest first with its rows and encryption flag', async () => {
    const older = await create(root);
    const run = await secops(['--json', 'backup', 'list', '--dir', root], url);
    assert.equal(run.code, 0, run.stderr);
    const { backups } = JSON.parse(run.stdout) as { backups: { id: string; rows: number; encrypted: boolean }[] };
    assert.deepEqual(backups.map((b) => b.id), [older.id, backup.id].sort().reverse());
    assert.equal(backups[0]?.rows, manifest.tables.reduce((n, t) => n + t.rows, 0));
    assert.equal(backups[0]?.encrypted, false);
    rmSync(older.dir, { recursive: true });
  });

  it('a drill of a good backup passes, reports RTO and RPO, and drops its scratch database', async () => {
    const reportFile = join(root, 'drill-report.json');
    const run = await drill(['--from', backup.dir, '--report', reportFile]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    assert.equal(report.ok, true);
    assert.equal(typeof report.rtoSeconds, 'number');
    assert.ok(report.rpoSeconds >= 0 && report.rpoSeconds < 600);
    assert.ok(report.tables.every((t: { ok: boolean }) => t.ok));
    assert.equal(report.migrationHead.ok, true);
    assert.ok(['passed', 'skipped'].includes(report.amcheck.status), JSON.stringify(report.amcheck));
    assert.equal(report.scratchDropped, true);
    assert.equal(await databaseExists(report.scratchDatabase), false, 'the scratch database is gone');
  });

  it('the human summary is one line naming backup, RTO, RPO, tables and rows', async () => {
    const run = await secops(['backup', 'drill', '--dir', root], url);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`drill OK backup=${backup.id} rto=[\\d.]+s rpo=\\S+ tables=${manifest.tables.length} rows=\\d+`));
    assert.ok(readdirSync(backup.dir).some((f) => /^drill-\d{8}T\d{6}Z\.json$/.test(f)), 'the default report sits in the backup');
  });

  it('a drill of a backup whose data was altered is refused by its file hashes, and by its row checksums once re-signed', async () => {
    const dir = tempDir('tampered');
    try {
      const tampered = await create(dir);
      await tamperTableData(join(tampered.dir, 'dump'), 'messages', 'message 1 of', 'massage 1 of');
      const refused = await drill(['--from', tampered.dir]);
      assert.equal(refused.code, 65, refused.stderr);
      assert.match(refused.stderr, /\d+\.dat\.gz (is \d+ bytes, the signed manifest says \d+|does not match its SHA-256 in the signed manifest)/);
      const refusedReport = latestDrillReport(tampered.dir);
      assert.equal(refusedReport.refused, 'backup_file_mismatch');
      // The empty scratch database is created while the files are checked: a refusal drops it.
      assert.equal(refusedReport.scratchDropped, true);
      assert.equal(await databaseExists(refusedReport.scratchDatabase), false, 'nothing is left of a refused drill');
      // As if the dump had been damaged before it was signed: the rows themselves still disagree.
      await rehashFiles(tampered.dir);
      const run = await drill(['--from', tampered.dir]);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /drill FAILED/);
      assert.match(run.stderr, /table messages: checksum differs/);
      assert.doesNotMatch(run.stderr, /table (users|conversations|sessions):/);
      const report = latestDrillReport(tampered.dir);
      assert.equal(report.ok, false);
      assert.equal(await databaseExists(report.scratchDatabase), false, 'dropped after a failure too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a drill fails when the backup is older than --max-age', async () => {
    const dir = tempDir('old');
    try {
      const old = await create(dir);
      resignManifest(old.dir, (m) => {
        m.createdAt = new Date(Date.now() - 3 * 86_400_000).toISOString();
      });
      const run = await drill(['--dir', dir, '--max-age', '26h']);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /older than the allowed 26h00m/);
      assert.equal((await drill(['--dir', dir, '--max-age', '4d'])).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an interrupted drill (Ctrl-C) still drops its scratch database and fails', async () => {
    const { run } = await import('../../cli/src/commands/backup.js');
    const { createContext } = await import('../../cli/src/lib/context.js');
    const { captureIo } = await import('./capture.js');
    const db = { ...source.db, close: async () => undefined };
    const ctx = createContext(captureIo({ PATH: process.env.PATH, BACKUP_SIGNING_KEY: TEST_SIGNING_KEYRING }).io, { json: true, databaseUrl: undefined }, async () => db);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const reportFile = join(root, 'interrupted.json');
    await assert.rejects(
      run({ action: 'drill', from: backup.dir, create: false, checksum: 'sum64', maxAgeMs: 3_600_000, report: reportFile, jobs: 2, allowUnsigned: false, signal: controller.signal }, ctx),
      /drill FAILED[\s\S]*interrupted/,
    );
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    assert.equal(report.scratchDropped, true);
    assert.equal(await databaseExists(report.scratchDatabase), false);
  });

  it('a drill with no backup to take fails (exit 1)', async () => {
    const dir = tempDir('none');
    try {
      const run = await drill(['--dir', dir]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /no backup in/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restore refuses a non-empty target and the configured database, and fills an empty one', async () => {
    const target = await emptyDatabase();
    try {
      const refused = await secops(['backup', 'restore', '--from', backup.dir, '--to', url], url);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /configured DATABASE_URL/);

      const restored = await secops(['--json', 'backup', 'restore', '--from', backup.dir, '--to', target.url], url);
      assert.equal(restored.code, 0, restored.stderr);
      const result = JSON.parse(restored.stdout) as { tables: { name: string; rows: number }[] };
      assert.deepEqual(
        result.tables.map((t) => [t.name, t.rows]),
        manifest.tables.map((t) => [t.name, t.rows]),
      );

      const again = await secops(['backup', 'restore', '--from', backup.dir, '--to', target.url], url);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not empty/);
      const forced = await secops(['backup', 'restore', '--from', backup.dir, '--to', target.url, '--force'], url);
      assert.equal(forced.code, 0, forced.stderr);
    } finally {
      await target.drop();
    }
  });

  it('an encrypted backup round-trips through a drill; a flipped byte fails it', async () => {
    const dir = tempDir('encrypted');
    try {
      const keyFile = join(dir, 'backup.key');
      writeFileSync(keyFile, randomBytes(32).toString('hex'));
      const encrypted = await create(dir, ['--encrypt-key-file', keyFile, '--checksum', 'ordered']);
      const files = readdirSync(join(encrypted.dir, 'dump'));
      assert.ok(files.length > 0 && files.every((f) => f.endsWith('.enc')), files.join(','));
      const m = JSON.parse(readFileSync(join(encrypted.dir, 'manifest.json'), 'utf8')) as Manifest;
      assert.equal(m.encryption?.algorithm, 'aes-256-gcm');
      assert.equal(m.checksumAlgorithm, 'ordered');
      assert.ok(m.tables.every((t) => /^[0-9a-f]{32}$|^empty$/.test(t.checksum)));
      assert.ok(m.files.every((f) => f.iv && f.tag));

      const withoutKey = await drill(['--from', encrypted.dir]);
      assert.equal(withoutKey.code, 1);
      assert.match(withoutKey.stderr, /encrypted: pass --encrypt-key-file/);

      const good = await drill(['--from', encrypted.dir, '--encrypt-key-file', keyFile]);
      assert.equal(good.code, 0, good.stderr);
      // The same key through a secret reference (the providers the service uses).
      const viaRef = await drill(['--from', encrypted.dir, '--encrypt-key-ref', `file:${keyFile}`]);
      assert.equal(viaRef.code, 0, viaRef.stderr);
      const both = await drill(['--from', encrypted.dir, '--encrypt-key-file', keyFile, '--encrypt-key-ref', `file:${keyFile}`]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /exclude each other/);
      const otherKey = join(dir, 'other.key');
      writeFileSync(otherKey, randomBytes(32).toString('base64'));
      const wrong = await drill(['--from', encrypted.dir, '--encrypt-key-ref', `file:${otherKey}`]);
      assert.equal(wrong.code, 1);
      const missing = await drill(['--from', encrypted.dir, '--encrypt-key-ref', `file:${join(dir, 'nope.key')}`]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /nope\.key/);

      const biggest = m.files.reduce((a, b) => (b.bytes > a.bytes ? b : a));
      const path = join(encrypted.dir, 'dump', biggest.path);
      const bytes = readFileSync(path);
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = (bytes[middle] as number) ^ 0x01;
      writeFileSync(path, bytes);
      const refused = await drill(['--from', encrypted.dir, '--encrypt-key-file', keyFile]);
      assert.equal(refused.code, 65);
      assert.match(refused.stderr, new RegExp(`${biggest.path.replace('.', '\\.')} does not match its SHA-256`));
      await rehashFiles(encrypted.dir); // damaged before signing: GCM's tag still catches it
      const flipped = await drill(['--from', encrypted.dir, '--encrypt-key-file', keyFile]);
      assert.equal(flipped.code, 1);
      assert.match(flipped.stderr, new RegExp(`${biggest.path.replace('.enc', '').replace('.', '\\.')}: decryption failed`));
      assert.ok(!readdirSync(encrypted.dir).some((f) => f.startsWith('.decrypted-')), 'no plaintext is left behind');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
