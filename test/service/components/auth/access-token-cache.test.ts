import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createAccessTokens } from '../../../../service/src/components/auth/access-tokens.js';
import { type Keyring, keyringFromDocument, keyringFromSecret } from '../../../../service/src/components/auth/keyring.js';
import { initialDocument, serializeKeysDocument, stage } from '../../../../service/src/components/auth/keys-document.js';
import { AppError } from '../../../../service/src/platform/errors.js';
import { fakeClock } from '../../../helpers/app.js';

const isInvalidToken = (err: unknown) => err instanceof AppError && err.code === 'invalid_token';

describe('verified access tokens are remembered, never beyond what verification allows', () => {
  it('a remembered token still expires (with the 30 s tolerance)', async () => {
    const clock = fakeClock();
    const ring = await keyringFromSecret(new Uint8Array(64).fill(3));
    const tokens = createAccessTokens({ keyring: () => ring, issuer: 'i', audience: 'a', ttlSeconds: 60, clock });
    const token = await tokens.issue(randomUUID(), randomUUID(), { authTime: clock.now(), amr: ['pwd'] });
    const first = await tokens.verify(token);
    assert.equal(await tokens.verify(token), first, 'the second verification is the remembered one');
    assert.ok(Object.isFrozen(first), 'shared claims cannot be changed by a caller');
    // Claims are whole seconds and the fake clock runs on with real time: 2 s of margin either side of
    // the tolerance's edge, so where in its second the token was issued cannot decide the outcome.
    clock.advance(60_000 + 28_000);
    await tokens.verify(token);
    clock.advance(4000);
    await assert.rejects(tokens.verify(token), isInvalidToken);
  });

  it('a token whose key left the keyring is refused at once, even when remembered', async () => {
    const clock = fakeClock();
    const doc = await initialDocument({ alg: 'EdDSA', now: clock.now() });
    let ring: Keyring = await keyringFromDocument(serializeKeysDocument(doc));
    const tokens = createAccessTokens({ keyring: () => ring, issuer: 'i', audience: 'a', ttlSeconds: 900, clock });
    const token = await tokens.issue(randomUUID(), randomUUID(), { authTime: clock.now(), amr: ['pwd'] });
    await tokens.verify(token);

    // A reload that keeps the key: new key objects, the token is verified again and still valid.
    ring = await keyringFromDocument(serializeKeysDocument(doc));
    await tokens.verify(token);

    // The signing key replaced and the old one removed (a leaked key): refused.
    const staged = await stage(doc, { alg: 'EdDSA', now: clock.now() });
    const onlyNew = { signing: staged.kid, keys: staged.document.keys.filter((k) => k.kid === staged.kid) };
    ring = await keyringFromDocument(serializeKeysDocument(onlyNew));
    await assert.rejects(tokens.verify(token), isInvalidToken);
  });

  it('an altered token is verified (and refused) on its own, not served from the remembered one', async () => {
    const clock = fakeClock();
    const ring = await keyringFromSecret(new Uint8Array(64).fill(4));
    const tokens = createAccessTokens({ keyring: () => ring, issuer: 'i', audience: 'a', ttlSeconds: 60, clock });
    const token = await tokens.issue(randomUUID(), randomUUID(), { authTime: clock.now(), amr: ['pwd'] });
    await tokens.verify(token);
    const [h, p, sig] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
    await assert.rejects(tokens.verify(flipped), isInvalidToken);
  });
});
