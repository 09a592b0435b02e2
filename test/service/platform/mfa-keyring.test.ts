import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyIdOf, MfaKeyringError, parseMfaKeyring } from '../../../service/src/platform/mfa-keyring.js';

const key = (n: number) => Buffer.alloc(32, n).toString('base64url');
const USER = '3f0c7a52-56a4-4c8f-9a4e-7d1b2a1e9c11';

describe('the TOTP secrets keyring (MFA_ENCRYPTION_KEY)', () => {
  it('a lone key is named from its bytes, so every replica gives it the same id', () => {
    const a = parseMfaKeyring(key(1));
    assert.equal(a.primaryId, keyIdOf(Buffer.alloc(32, 1)));
    assert.equal(parseMfaKeyring(` ${key(1)}\n`).primaryId, a.primaryId);
  });

  it('the primary encrypts, every key decrypts: a secret written under the old key reads after the new one is promoted', () => {
    const before = parseMfaKeyring(JSON.stringify({ primary: 'old', keys: { old: key(1) } }));
    const secret = Buffer.from('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    const sealed = before.encrypt(secret, USER);
    assert.equal(sealed.keyId, 'old');
    const after = parseMfaKeyring(JSON.stringify({ primary: 'new', keys: { new: key(2), old: key(1) } }));
    assert.deepEqual(after.decrypt(sealed.keyId, sealed.ciphertext, USER), secret);
    assert.equal(after.encrypt(secret, USER).keyId, 'new');
    // Once the old key is removed, what it sealed no longer opens (hence `secops mfa reencrypt` first).
    const removed = parseMfaKeyring(JSON.stringify({ primary: 'new', keys: { new: key(2) } }));
    assert.throws(() => removed.decrypt(sealed.keyId, sealed.ciphertext, USER), MfaKeyringError);
  });

  it('a ciphertext moved to another user, relabelled with another key or altered does not decrypt', () => {
    const ring = parseMfaKeyring(JSON.stringify({ primary: 'a', keys: { a: key(1), b: key(1) } }));
    const sealed = ring.encrypt(Buffer.from('secret'), USER);
    assert.throws(() => ring.decrypt('a', sealed.ciphertext, '00000000-0000-4000-8000-000000000000'));
    assert.throws(() => ring.decrypt('b', sealed.ciphertext, USER), 'same key bytes, other label');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    assert.throws(() => ring.decrypt('a', flipped, USER));
    assert.notDeepEqual(ring.encrypt(Buffer.from('secret'), USER).ciphertext, sealed.ciphertext, 'a fresh IV each time');
  });

  it('refuses short keys, bad ids, a primary that is not a key, and never echoes a key', () => {
    const short = Buffer.alloc(31, 5).toString('base64url');
    assert.throws(() => parseMfaKeyring(short), (err: Error) => /32 bytes \(got 31/.test(err.message) && !err.message.includes(short));
    assert.throws(() => parseMfaKeyring('{"primary":"a","keys":{"a b":"x"}}'), /key id/);
    assert.throws(() => parseMfaKeyring(JSON.stringify({ primary: 'z', keys: { a: key(1) } })), /"primary" must name one of "keys"/);
    assert.throws(() => parseMfaKeyring('{not json'), /not valid JSON/);
  });
});
