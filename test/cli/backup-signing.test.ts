import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  generateSigningKeyring,
  parseSigningKeyring,
  publicKeyringOf,
  signatureProblem,
  signedBytes,
  signManifest,
} from '../../cli/src/lib/backup/signing.js';
import { secops } from './backup-fixtures.js';

const content = {
  format: 2,
  id: '20261206T101500Z',
  encryption: { algorithm: 'aes-256-gcm', keyId: 'k1' },
  files: [{ path: 'toc.dat', bytes: 10 }],
};

/** Two keyrings as a rotation leaves them: the old key verifies only, the new one signs. */
function rotated(oldRing: string, newRing: string): string {
  const old = JSON.parse(oldRing) as { keys: unknown[] };
  const next = JSON.parse(newRing) as { signing: string; keys: unknown[] };
  return JSON.stringify({ signing: next.signing, keys: [...next.keys, ...old.keys] });
}

describe('backup manifest signing keys', () => {
  it('signs over RFC 8785 canonical JSON: key order and whitespace do not change the signed bytes', () => {
    const reordered = { files: content.files, encryption: { keyId: 'k1', algorithm: 'aes-256-gcm' }, id: content.id, format: 2 };
    assert.deepEqual(signedBytes(reordered), signedBytes(content));
    assert.equal(signedBytes({ b: 1, a: [1e21, 'é'] }).toString(), '{"a":[1e+21,"é"],"b":1}');
  });

  it('the signature block itself is left out of what is signed', () => {
    const keyring = parseSigningKeyring(generateSigningKeyring('ed25519', 'k'));
    const signature = signManifest(content, keyring);
    assert.deepEqual(signedBytes({ ...content, signature }), signedBytes(content));
  });

  for (const alg of ['ed25519', 'hs256'] as const) {
    it(`${alg}: a signed manifest verifies; any changed field (the encryption flag, a file) fails`, () => {
      const keyring = parseSigningKeyring(generateSigningKeyring(alg, 'k1'));
      const signature = signManifest(content, keyring);
      assert.equal(signature.alg, alg === 'ed25519' ? 'EdDSA' : 'HS256');
      assert.equal(signatureProblem({ ...content, signature }, keyring), null);
      assert.equal(signatureProblem({ ...content, encryption: null, signature }, keyring), 'bad_signature');
      assert.equal(
        signatureProblem({ ...content, files: [{ path: 'toc.dat', bytes: 11 }], signature }, keyring),
        'bad_signature',
      );
      assert.equal(signatureProblem({ ...content, extra: true, signature }, keyring), 'bad_signature');
      assert.equal(signatureProblem(content, keyring), 'unsigned');
    });
  }

  it('a signature by a key outside the keyring is an unknown kid; one by another key under the same kid is bad', () => {
    const mine = parseSigningKeyring(generateSigningKeyring('ed25519', 'prod'));
    const theirs = parseSigningKeyring(generateSigningKeyring('ed25519', 'attacker'));
    const sameKid = parseSigningKeyring(generateSigningKeyring('ed25519', 'prod'));
    assert.equal(signatureProblem({ ...content, signature: signManifest(content, theirs) }, mine), 'unknown_kid');
    assert.equal(signatureProblem({ ...content, signature: signManifest(content, sameKid) }, mine), 'bad_signature');
  });

  it('a malformed signature block is unsigned or a bad signature, never a crash', () => {
    const keyring = parseSigningKeyring(generateSigningKeyring('ed25519', 'k1'));
    for (const value of ['', 'abc', '!!!!', 'A'.repeat(200)]) {
      assert.equal(signatureProblem({ ...content, signature: { alg: 'EdDSA', kid: 'k1', value } }, keyring), 'bad_signature', value);
    }
    assert.equal(signatureProblem({ ...content, signature: 'k1' }, keyring), 'unsigned');
    assert.equal(signatureProblem({ ...content, signature: { alg: 'EdDSA', kid: 'k1', value: 5 } }, keyring), 'unsigned');
    assert.equal(signatureProblem({ ...content, signature: { alg: 'EdDSA', kid: '__proto__', value: 'x' } }, keyring), 'unknown_kid');
  });

  it('the algorithm comes from the key, never from the manifest', () => {
    const keyring = parseSigningKeyring(generateSigningKeyring('ed25519', 'k1'));
    const signature = signManifest(content, keyring);
    assert.equal(signatureProblem({ ...content, signature: { ...signature, alg: 'HS256' } }, keyring), 'bad_signature');
  });

  it('rotation: the new kid signs, the old kid still verifies what it signed', () => {
    const oldText = generateSigningKeyring('ed25519', 'backup-2026');
    const both = parseSigningKeyring(rotated(oldText, generateSigningKeyring('hs256', 'backup-2027')));
    const oldSignature = signManifest(content, parseSigningKeyring(oldText));
    const newSignature = signManifest(content, both);
    assert.equal(newSignature.kid, 'backup-2027');
    assert.equal(signatureProblem({ ...content, signature: oldSignature }, both), null);
    assert.equal(signatureProblem({ ...content, signature: newSignature }, both), null);
  });

  it('an Ed25519 keyring without "d" verifies but refuses to sign (a verifier-only machine)', () => {
    const full = generateSigningKeyring('ed25519', 'k1');
    const signature = signManifest(content, parseSigningKeyring(full));
    const verifier = parseSigningKeyring(JSON.stringify({ signing: 'k1', ...JSON.parse(publicKeyringOf(full)) }));
    assert.equal(signatureProblem({ ...content, signature }, verifier), null);
    assert.throws(() => signManifest(content, verifier), /no private part/);
    assert.ok(!publicKeyringOf(full).includes('"d"'));
  });

  it('one base64url HMAC key of at least 32 bytes is a keyring of one; shorter is refused', () => {
    const keyring = parseSigningKeyring(randomBytes(32).toString('base64url'));
    assert.match(keyring.signingKid ?? '', /^hs256-[0-9a-f]{16}$/);
    assert.equal(signatureProblem({ ...content, signature: signManifest(content, keyring) }, keyring), null);
    assert.throws(() => parseSigningKeyring(randomBytes(31).toString('base64url')), /at least 32 bytes/);
  });

  it('malformed keyrings are refused without echoing key material', () => {
    const secret = randomBytes(16).toString('base64url');
    const cases = [
      `{"signing":"a","keys":[{"kty":"oct","kid":"a","k":"${secret}"}]}`,
      `{"signing":"b","keys":[{"kty":"oct","kid":"a","k":"${randomBytes(32).toString('base64url')}"}]}`,
      `{"keys":[{"kty":"RSA","kid":"a","n":"${secret}"}]}`,
      `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"${secret}"}]}`,
      `{"keys":[{"kty":"oct","k":"${secret}"}]}`,
      `not json ${secret}`,
    ];
    for (const text of cases) {
      assert.throws(
        () => parseSigningKeyring(text),
        (err: Error & { exitCode?: number }) =>
          !err.message.includes(secret) && err.exitCode === 78 && /^BACKUP_SIGNING_KEY: /.test(err.message),
        text,
      );
    }
  });

  it('an Ed25519 JWK whose "d" belongs to another "x" is refused', () => {
    const a = JSON.parse(generateSigningKeyring('ed25519', 'k')) as { keys: { x: string; d: string }[] };
    const b = JSON.parse(generateSigningKeyring('ed25519', 'k')) as { keys: { x: string; d: string }[] };
    const mixed = { signing: 'k', keys: [{ ...a.keys[0], d: b.keys[0]?.d }] };
    assert.throws(() => parseSigningKeyring(JSON.stringify(mixed)), /not a valid Ed25519 JWK/);
  });

  it('secops backup signing-key generate prints a keyring that signs, under the kid asked for', async () => {
    for (const alg of ['ed25519', 'hs256'] as const) {
      const run = await secops(['backup', 'signing-key', 'generate', '--alg', alg, '--kid', `ops-${alg}`], undefined);
      assert.equal(run.code, 0, run.stderr);
      const keyring = parseSigningKeyring(run.stdout);
      assert.equal(keyring.signingKid, `ops-${alg}`);
      assert.equal(signManifest(content, keyring).alg, alg === 'ed25519' ? 'EdDSA' : 'HS256');
    }
    const bad = await secops(['backup', 'signing-key', 'generate', '--alg', 'rsa'], undefined);
    assert.equal(bad.code, 2);
  });
});
