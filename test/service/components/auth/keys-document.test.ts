import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyringError, keyringFromDocument, kidForSecret } from '../../../../service/src/components/auth/keyring.js';
import {
  initialDocument,
  KeyRotationError,
  parseKeysDocument,
  promote,
  prune,
  type RotationTimings,
  roleOf,
  serializeKeysDocument,
  stage,
  summarize,
} from '../../../../service/src/components/auth/keys-document.js';

const timings: RotationTimings = { reloadIntervalMs: 60_000, tokenLifetimeMs: 900_000, clockToleranceMs: 30_000, marginMs: 5_000 };
const t0 = new Date('2026-11-27T12:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

describe('JWT keyring document rotation', () => {
  it('stage adds a verify-only key the service loads, and re-running stage adds nothing', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: t0 });
    const staged = await stage(doc, { alg: 'EdDSA', now: at(1000) });
    assert.equal(staged.changed, true);
    assert.equal(staged.document.signing, doc.signing);
    assert.equal(staged.document.keys.length, 2);
    const ring = await keyringFromDocument(serializeKeysDocument(staged.document));
    assert.equal(ring.signing.kid, doc.signing);
    assert.equal(ring.byKid(staged.kid)?.signKey, undefined, 'a staged key verifies only');
    assert.deepEqual(ring.jwks.keys.map((k) => k.kid).sort(), [doc.signing, staged.kid].sort());
    assert.ok(ring.jwks.keys.every((k) => !('d' in k) && !('created_at' in k)), 'private parts and metadata are never published');

    const again = await stage(staged.document, { alg: 'EdDSA', now: at(2000) });
    assert.equal(again.changed, false);
    assert.equal(again.kid, staged.kid);
  });

  it('a signing key whose private part is not its published public key is refused at load, naming no secret', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: t0 });
    const other = await initialDocument({ alg: 'EdDSA', now: t0 });
    const foreignD = (other.keys[0] as { d: string }).d;
    const json = JSON.parse(serializeKeysDocument(doc)) as { keys: Array<{ kid: string; d?: string }> };
    const signing = json.keys.find((k) => k.kid === doc.signing) as { d?: string };
    signing.d = foreignD;
    await assert.rejects(keyringFromDocument(JSON.stringify(json)), (err: Error) => {
      assert.ok(err instanceof KeyringError, String(err));
      assert.match(err.message, /private part does not match its public key/);
      assert.ok(!err.message.includes(foreignD), 'the private key is not in the message');
      return true;
    });
    await keyringFromDocument(serializeKeysDocument(doc));
  });

  it('a signing key whose private part is not 32 bytes is refused as damaged, not as a mismatch, naming no secret', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: t0 });
    const json = JSON.parse(serializeKeysDocument(doc)) as { keys: Array<{ kid: string; d?: string }> };
    const signing = json.keys.find((k) => k.kid === doc.signing) as { d: string };
    const truncated = Buffer.from(signing.d, 'base64url').subarray(0, 31).toString('base64url');
    signing.d = truncated;
    await assert.rejects(keyringFromDocument(JSON.stringify(json)), (err: Error) => {
      assert.ok(err instanceof KeyringError, String(err));
      assert.match(err.message, /private part is not a 32-byte Ed25519 key/);
      assert.ok(!err.message.includes(truncated), 'the private key is not in the message');
      return true;
    });
  });

  it('promote refuses until one reload interval (+ margin) has passed, then swaps roles once', async () => {
    const doc = await initialDocument({ alg: 'HS256', now: t0 });
    const { document } = await stage(doc, { alg: 'HS256', now: t0 });
    assert.throws(
      () => promote(document, { now: at(64_999), timings }),
      (err: unknown) => err instanceof KeyRotationError && err.code === 'not_ready' && err.waitMs === 1,
    );
    const promoted = promote(document, { now: at(65_000), timings });
    assert.equal(promoted.changed, true);
    assert.equal(promoted.previous, doc.signing);
    const old = promoted.document.keys.find((k) => k.kid === doc.signing);
    assert.equal(old?.retired_at, at(65_000).toISOString());
    assert.equal(roleOf(promoted.document, old as NonNullable<typeof old>), 'retired');
    const ring = await keyringFromDocument(serializeKeysDocument(promoted.document));
    assert.equal(ring.signing.kid, promoted.kid);
    assert.ok(ring.byKid(doc.signing), 'the previous key still verifies');

    const rerun = promote(promoted.document, { now: at(70_000), timings });
    assert.equal(rerun.changed, false, 'a re-run finds the newest key signing already');
    assert.equal(rerun.document, promoted.document);
    assert.equal(promote(promoted.document, { now: at(70_000), timings, kid: promoted.kid }).changed, false);
    // Without a staged key, and the signing key not the newest (a rotation rolled back by hand): refused.
    const rolledBack = {
      signing: doc.signing,
      keys: promoted.document.keys.map((k) => (k.kid === promoted.kid ? { ...k, retired_at: at(80_000).toISOString() } : { ...k, retired_at: undefined })),
    };
    assert.throws(() => promote(rolledBack, { now: at(70_000), timings }), /no staged key/);
  });

  it('promote waits for replicas when they reload on SIGHUP only, unless they were checked', async () => {
    const { document } = await stage(await initialDocument({ alg: 'EdDSA', now: t0 }), { alg: 'EdDSA', now: t0 });
    const sighupOnly = { ...timings, reloadIntervalMs: 0 };
    assert.throws(() => promote(document, { now: at(3_600_000), timings: sighupOnly }), /--replica/);
    assert.equal(promote(document, { now: at(1), timings: sighupOnly, replicasConfirmed: true }).changed, true);
  });

  it('prune keeps a retired key while a token it signed can be valid, then removes it', async () => {
    const { document } = await stage(await initialDocument({ alg: 'EdDSA', now: t0 }), { alg: 'EdDSA', now: t0 });
    const promoted = promote(document, { now: at(65_000), timings });
    // A lagging replica signs with the old key up to one reload interval after promote; its token
    // lives token TTL + clock tolerance: 65 s + 60 s + 900 s + 30 s = 1055 s, plus the 5 s margin.
    const early = prune(promoted.document, { now: at(1_059_999), timings });
    assert.deepEqual(early.removed, []);
    assert.deepEqual(early.kept, [{ kid: promoted.previous, prunableAt: at(1_060_000).toISOString() }]);
    const late = prune(promoted.document, { now: at(1_060_000), timings });
    assert.deepEqual(late.removed, [promoted.previous]);
    assert.deepEqual(
      late.document.keys.map((k) => k.kid),
      [promoted.kid],
    );
    assert.deepEqual(prune(late.document, { now: at(2_000_000), timings }).removed, [], 'pruning again removes nothing');
  });

  it('never prunes the signing key or a staged key', async () => {
    const doc = await initialDocument({ alg: 'HS256', now: t0 });
    const { document } = await stage(doc, { alg: 'HS256', now: t0 });
    const result = prune(document, { now: at(10 * 86_400_000), timings });
    assert.deepEqual(result.removed, []);
    assert.equal(result.document.keys.length, 2);
  });

  it('init can import the current JWT_SECRET under the kid its tokens carry', async () => {
    const secret = new Uint8Array(64).fill(9);
    const doc = await initialDocument({ alg: 'EdDSA', now: t0, importSecret: secret });
    assert.equal(doc.signing, kidForSecret(secret));
    const ring = await keyringFromDocument(serializeKeysDocument(doc));
    assert.equal(ring.signing.alg, 'HS256');
  });

  it('refuses a document that is not a keyring without quoting it', () => {
    for (const text of ['{"signing":"a","keys":[]}', 'not json {"k":"SECRET-MATERIAL"}', '{"signing":"x","keys":[{"kid":"y","kty":"oct","k":"SECRET-MATERIAL"}]}']) {
      assert.throws(
        () => parseKeysDocument(text),
        (err: unknown) => err instanceof KeyRotationError && err.code === 'invalid_document' && !err.message.includes('SECRET-MATERIAL'),
      );
    }
  });

  it('summarize reports roles, ages and when the next phase is safe', async () => {
    const { document } = await stage(await initialDocument({ alg: 'EdDSA', now: t0 }), { alg: 'HS256', now: at(10_000) });
    const rows = summarize(document, at(70_000), timings);
    assert.deepEqual(
      rows.map((r) => [r.role, r.alg, r.age_seconds, r.next_phase_at]),
      [
        ['signing', 'EdDSA', 70, null],
        ['staged', 'HS256', 60, at(75_000).toISOString()],
      ],
    );
  });
});
