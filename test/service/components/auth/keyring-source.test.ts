import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyringError } from '../../../../service/src/components/auth/keyring.js';
import { keyringSource } from '../../../../service/src/components/auth/keyring-source.js';
import { initialDocument, serializeKeysDocument, stage } from '../../../../service/src/components/auth/keys-document.js';

describe('keyring source', () => {
  it('builds a keyring only when the material changed', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: new Date() });
    let material: { keys?: string; secret?: string } = { keys: serializeKeysDocument(doc) };
    let reads = 0;
    const load = keyringSource(async () => {
      reads++;
      return material;
    });
    const first = await load();
    assert.equal(await load(), first, 'the same material gives back the same keyring');
    const staged = await stage(doc, { alg: 'EdDSA', now: new Date() });
    material = { keys: serializeKeysDocument(staged.document) };
    const second = await load();
    assert.notEqual(second, first);
    assert.deepEqual([...second.kids].sort(), [doc.signing, staged.kid].sort());
    assert.equal(reads, 3, 'the source is read every time');
  });

  it('refuses a secret that is not base64url, and no material at all', async () => {
    await assert.rejects(keyringSource(async () => ({ secret: 'not base64url!' }))(), KeyringError);
    await assert.rejects(keyringSource(async () => ({}))(), KeyringError);
  });
});
