import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  type CatalogEntry,
  catalogBackups,
  nextInChain,
  trustedBackups,
  type VerifyOptions,
} from '../../cli/src/lib/backup/catalog.js';
import { generateSigningKeyring, parseSigningKeyring } from '../../cli/src/lib/backup/signing.js';
import { fabricateBackup, fabricateChain, secops, TEST_SIGNING_KEYRING, tempDir } from './backup-fixtures.js';

/**
 * What `list`, `prune` and "the latest backup" trust in a directory an attacker can write to but holds
 * no signing key for (issue 22). Backups are fabricated (manifests only); nothing here needs a database.
 */

const NOW = new Date('2026-12-06T10:00:00Z');
const verify: VerifyOptions = { keyring: parseSigningKeyring(TEST_SIGNING_KEYRING), allowUnsigned: false, now: NOW };

function scratch(t: TestContext): string {
  const root = tempDir('catalog');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

function statusOf(entries: CatalogEntry[], dir: string): string {
  const e = entries.find((x) => x.dir === dir);
  if (!e) return 'absent';
  return e.status === 'refused' ? `refused:${e.code}` : e.status;
}

function editManifest(dir: string, change: (m: Record<string, unknown>) => void): void {
  const file = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(m);
  writeFileSync(file, JSON.stringify(m, null, 2));
}

describe('backup catalog: which backups are trusted', () => {
  it('a forged manifest without a signature is refused, and never the latest', (t) => {
    const root = scratch(t);
    const [real] = fabricateChain(root, ['2026-12-05T22:00:00Z']);
    const forged = fabricateBackup(root, '2026-12-06T09:00:00Z', { sequence: 2 });
    editManifest(forged.dir, (m) => delete m.signature);
    const entries = catalogBackups(root, verify);
    assert.equal(statusOf(entries, forged.dir), 'refused:unsigned');
    assert.equal(trustedBackups(root, verify)[0]?.dir, real?.dir);
  });

  it('a manifest signed by another key under our kid is refused (bad signature); another kid is unknown', (t) => {
    const root = scratch(t);
    const sameKid = fabricateBackup(root, '2026-12-06T08:00:00Z', { keyring: generateSigningKeyring('ed25519', 'test-signing') });
    const otherKid = fabricateBackup(root, '2026-12-06T09:00:00Z', { keyring: generateSigningKeyring('ed25519', 'attacker') });
    const entries = catalogBackups(root, verify);
    assert.equal(statusOf(entries, sameKid.dir), 'refused:bad_signature');
    assert.equal(statusOf(entries, otherKid.dir), 'refused:unknown_kid');
  });

  it('a downgraded encryption flag breaks the signature', (t) => {
    const root = scratch(t);
    const b = fabricateBackup(root, '2026-12-06T08:00:00Z', {
      change: (m) => (m.encryption = { algorithm: 'aes-256-gcm', keyId: 'abcd' }),
    });
    assert.equal(statusOf(catalogBackups(root, verify), b.dir), 'verified');
    editManifest(b.dir, (m) => (m.encryption = null));
    assert.equal(statusOf(catalogBackups(root, verify), b.dir), 'refused:bad_signature');
  });

  it('an old backup copied under a newer name is refused: the directory is not its signed id', (t) => {
    const root = scratch(t);
    const [old] = fabricateChain(root, ['2026-12-01T22:00:00Z']);
    const copy = join(root, '20261206T090000Z');
    cpSync(old?.dir as string, copy, { recursive: true });
    const entries = catalogBackups(root, verify);
    assert.equal(statusOf(entries, copy), 'refused:id_mismatch');
    assert.equal(statusOf(entries, old?.dir as string), 'verified');
  });

  it('a backup dated 2099 is refused, forged or signed by a machine with a wrong clock; the real newest stays the latest', (t) => {
    const root = scratch(t);
    const chain = fabricateChain(root, ['2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    const signedFuture = fabricateBackup(root, '2099-01-01T00:00:00Z', { sequence: 3, predecessor: chain[1] });
    const forgedFuture = fabricateBackup(root, '2099-06-01T00:00:00Z', { format: 1 });
    const withinSkew = fabricateBackup(root, new Date(NOW.getTime() + 4 * 60_000).toISOString(), {
      sequence: 4,
      id: '20261206T100400Z',
    });
    const entries = catalogBackups(root, { ...verify, allowUnsigned: true });
    assert.equal(statusOf(entries, signedFuture.dir), 'refused:future');
    assert.equal(statusOf(entries, forgedFuture.dir), 'refused:future');
    assert.equal(statusOf(entries, withinSkew.dir), 'verified', 'a clock a few minutes ahead is skew, not the future');
    rmSync(withinSkew.dir, { recursive: true });
    assert.equal(trustedBackups(root, verify)[0]?.dir, chain[1]?.dir);
  });

  it('two verified backups with one sequence are both refused', (t) => {
    const root = scratch(t);
    const a = fabricateBackup(root, '2026-12-05T22:00:00Z', { sequence: 7 });
    const b = fabricateBackup(root, '2026-12-06T08:00:00Z', { sequence: 7 });
    const entries = catalogBackups(root, verify);
    assert.equal(statusOf(entries, a.dir), 'refused:duplicate_sequence');
    assert.equal(statusOf(entries, b.dir), 'refused:duplicate_sequence');
  });

  it('a predecessor present with another digest breaks the chain; an absent (pruned) one does not', (t) => {
    const root = scratch(t);
    const chain = fabricateChain(root, ['2026-12-03T22:00:00Z', '2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    const [first, second, third] = chain as [(typeof chain)[0], (typeof chain)[0], (typeof chain)[0]];
    let entries = catalogBackups(root, verify);
    assert.deepEqual(
      entries.map((e) => (e.status === 'refused' ? e.code : e.chain)),
      ['linked', 'linked', 'first'],
    );
    // The predecessor replaced by another validly signed manifest under its name (sequence 2 again).
    rmSync(second.dir, { recursive: true });
    fabricateBackup(root, '2026-12-04T22:00:00Z', { sequence: 2, predecessor: first, change: (m) => (m.jobs = 4) });
    entries = catalogBackups(root, verify);
    assert.equal(statusOf(entries, third.dir), 'refused:chain_broken');
    // Pruned: the successor is accepted, its link marked as absent.
    rmSync(second.dir, { recursive: true });
    entries = catalogBackups(root, verify);
    const kept = entries.find((e) => e.dir === third.dir);
    assert.equal(kept?.status, 'verified');
    assert.equal(kept?.status === 'verified' && kept.chain, 'predecessor_absent');
  });

  it('the next backup continues the chain of the verified ones, ignoring forged and future ones', (t) => {
    const root = scratch(t);
    const chain = fabricateChain(root, ['2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    fabricateBackup(root, '2099-01-01T00:00:00Z', { sequence: 50 });
    fabricateBackup(root, '2026-12-06T09:00:00Z', { sequence: 60, keyring: generateSigningKeyring('hs256', 'attacker') });
    assert.deepEqual(nextInChain(root, verify), { sequence: 3, predecessor: { id: chain[1]?.id, digest: chain[1]?.digest } });
    assert.deepEqual(nextInChain(scratch(t), verify), { sequence: 1, predecessor: null });
  });
});

describe('secops backup list and prune over an attacked directory', () => {
  it('prune keeps the real newest over a 2099 backup and deletes nothing because of a refused one', async (t) => {
    const root = scratch(t);
    const chain = fabricateChain(root, ['2026-11-30T22:00:00Z', '2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    const fake = fabricateBackup(root, '2099-01-01T00:00:00Z', { format: 1 });
    const forged = fabricateBackup(root, '2026-12-06T01:00:00Z', {
      sequence: 9,
      keyring: generateSigningKeyring('ed25519', 'test-signing'),
    });
    const run = await secops(
      ['--json', 'backup', 'prune', '--dir', root, '--keep-daily', '1', '--keep-weekly', '0', '--dry-run'],
      undefined,
    );
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      kept: { id: string }[];
      deleted: { id: string }[];
      refused: { id: string; refusal: string }[];
    };
    assert.deepEqual(
      result.kept.map((k) => k.id),
      [chain[2]?.id],
    );
    assert.deepEqual(
      result.deleted.map((d) => d.id),
      [chain[1]?.id, chain[0]?.id],
    );
    assert.deepEqual(
      result.refused.map((r) => [r.id, r.refusal]).sort(),
      [
        [fake.id, 'unsigned'],
        [forged.id, 'bad_signature'],
      ].sort(),
    );
    assert.match(run.stderr, /left alone, not trusted/);
  });

  it('with --allow-unsigned, prune plans from signed backups only: a format-1 one dated today displaces none and is kept', async (t) => {
    const root = scratch(t);
    const chain = fabricateChain(root, ['2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    const legacy = fabricateBackup(root, '2026-12-05T23:00:00Z', { format: 1 });
    const run = await secops(['--json', 'backup', 'prune', '--dir', root, '--keep-daily', '1', '--keep-weekly', '0', '--allow-unsigned'], undefined);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { kept: { id: string; reasons: string[] }[]; deleted: { id: string }[]; allowUnsigned: boolean };
    assert.equal(result.allowUnsigned, true);
    assert.deepEqual(
      result.kept.map((k) => k.id),
      [chain[1]?.id, legacy.id],
    );
    assert.match(result.kept[1]?.reasons[0] ?? '', /never pruned automatically/);
    assert.deepEqual(
      result.deleted.map((d) => d.id),
      [chain[0]?.id],
    );
  });

  it('list shows each backup’s verification status; --allow-unsigned accepts format 1 loudly, never a bad signature', async (t) => {
    const root = scratch(t);
    const [signed] = fabricateChain(root, ['2026-12-05T22:00:00Z']);
    const legacy = fabricateBackup(root, '2026-12-04T22:00:00Z', { format: 1 });
    const bad = fabricateBackup(root, '2026-12-03T22:00:00Z', { keyring: generateSigningKeyring('ed25519', 'test-signing') });
    type Listed = { id: string; status: string; unsigned?: boolean; refusal?: string };
    const strict = await secops(['--json', 'backup', 'list', '--dir', root], undefined);
    assert.equal(strict.code, 0, strict.stderr);
    const listed = (JSON.parse(strict.stdout) as { backups: Listed[] }).backups;
    assert.deepEqual(
      listed.map((b) => [b.id, b.status, b.refusal]),
      [
        [signed?.id, 'verified', undefined],
        [bad.id, 'refused', 'bad_signature'],
        [legacy.id, 'refused', 'unsigned'],
      ],
    );
    const loose = await secops(['--json', 'backup', 'list', '--dir', root, '--allow-unsigned'], undefined);
    assert.equal(loose.code, 0, loose.stderr);
    assert.match(loose.stderr, /--allow-unsigned: format-1/);
    const doc = JSON.parse(loose.stdout) as { allowUnsigned: boolean; backups: Listed[] };
    assert.equal(doc.allowUnsigned, true);
    assert.deepEqual(
      doc.backups.map((b) => [b.id, b.status, b.unsigned ?? b.refusal]),
      [
        [signed?.id, 'verified', false],
        [legacy.id, 'unsigned', true],
        [bad.id, 'refused', 'bad_signature'],
      ],
    );
  });

  it('without BACKUP_SIGNING_KEY, list and prune refuse to run (exit 78) unless --allow-unsigned', async (t) => {
    const root = scratch(t);
    fabricateChain(root, ['2026-12-05T22:00:00Z']);
    for (const args of [
      ['backup', 'list', '--dir', root],
      ['backup', 'prune', '--dir', root, '--dry-run'],
    ]) {
      const run = await secops(args, undefined, { BACKUP_SIGNING_KEY: '' });
      assert.equal(run.code, 78, run.stderr);
      assert.match(run.stderr, /BACKUP_SIGNING_KEY is not set/);
    }
    const loose = await secops(['--json', 'backup', 'list', '--dir', root, '--allow-unsigned'], undefined, {
      BACKUP_SIGNING_KEY: '',
    });
    assert.equal(loose.code, 0, loose.stderr);
    assert.equal((JSON.parse(loose.stdout) as { backups: { refusal?: string }[] }).backups[0]?.refusal, 'no_signing_key');
  });
});
