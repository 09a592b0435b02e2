import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { createAccessTokens } from '../../../../service/src/components/auth/access-tokens.js';
import { signCompactJws } from '../../../../service/src/components/auth/jws-sign.js';
import { generateEd25519Jwk, keyringFromDocument, keyringFromSecret } from '../../../../service/src/components/auth/keyring.js';
import { initialDocument, serializeKeysDocument } from '../../../../service/src/components/auth/keys-document.js';
import { fakeClock } from '../../../helpers/app.js';

const hmacSecret = () => createSecretKey(new Uint8Array(64).fill(7));

async function ed25519Keys(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  const jwk = await generateEd25519Jwk('k');
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string, d: jwk.d as string },
    format: 'jwk',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A moment inside the claims' lifetime below. */
const ISSUED = new Date(1_780_000_200_000);

/** Claims with every JSON shape an access token carries, and a non-ASCII string for the UTF-8 path. */
const claims = () => ({
  sid: randomUUID(),
  auth_time: 1_780_000_000,
  amr: ['pwd', 'otp'],
  iss: 'https://issuer.example/ü',
  aud: 'rampart',
  sub: randomUUID(),
  jti: randomUUID(),
  iat: 1_780_000_100,
  exp: 1_780_000_700,
});

describe('compact JWS signing with node:crypto produces what jose would', () => {
  it('HS256: byte for byte the token jose SignJWT signs with the same key, header and claims', async () => {
    const key = hmacSecret();
    const header = { alg: 'HS256' as const, typ: 'at+jwt', kid: 'hs-1' };
    const payload = claims();
    const ours = signCompactJws(key, header, payload);
    assert.equal(ours, await new SignJWT(payload).setProtectedHeader(header).sign(key));
    const { payload: verified } = await jwtVerify(ours, key, { algorithms: ['HS256'], typ: 'at+jwt', currentDate: ISSUED });
    assert.deepEqual(verified, payload);
  });

  it('EdDSA: byte for byte the token jose SignJWT signs, and it verifies with the public key alone', async () => {
    const { privateKey, publicKey } = await ed25519Keys();
    const header = { alg: 'EdDSA' as const, typ: 'at+jwt', kid: 'ed-1' };
    const payload = claims();
    const ours = signCompactJws(privateKey, header, payload);
    assert.equal(ours, await new SignJWT(payload).setProtectedHeader(header).sign(privateKey));
    const { payload: verified } = await jwtVerify(ours, publicKey, { algorithms: ['EdDSA'], currentDate: ISSUED });
    assert.deepEqual(verified, payload);
  });

  it('refuses a key that cannot sign the named algorithm, before signing anything', async () => {
    const { privateKey, publicKey } = await ed25519Keys();
    const hs = hmacSecret();
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: Array<[string, () => string]> = [
      ['a P-256 key for EdDSA', () => signCompactJws(p256, { alg: 'EdDSA' }, {})],
      ['an Ed25519 key for HS256', () => signCompactJws(privateKey, { alg: 'HS256' }, {})],
      ['an HMAC key for EdDSA', () => signCompactJws(hs, { alg: 'EdDSA' }, {})],
      ['an Ed25519 public key', () => signCompactJws(publicKey, { alg: 'EdDSA' }, {})],
      ['a header naming an algorithm the service never signs with', () => signCompactJws(hs, { alg: 'none' as never }, {})],
    ];
    // Refused by the signer's own check (its message), not by whatever node:crypto would throw later.
    for (const [label, sign] of cases) assert.throws(sign, { name: 'TypeError', message: /cannot sign/ }, label);
  });
});

describe('access tokens are signed by jws-sign and verified by jose', () => {
  for (const alg of ['HS256', 'EdDSA'] as const) {
    it(`${alg}: an issued token carries the header and claims of RFC 9068, in jose's order, and verifies`, async () => {
      const clock = fakeClock();
      const ring =
        alg === 'HS256'
          ? await keyringFromSecret(new Uint8Array(64).fill(5))
          : await keyringFromDocument(serializeKeysDocument(await initialDocument({ alg: 'EdDSA', now: clock.now() })));
      const tokens = createAccessTokens({
        keyring: () => ring,
        issuer: 'https://rampart.test',
        audience: 'rampart',
        ttlSeconds: 900,
        clock,
      });
      const userId = randomUUID();
      const sessionId = randomUUID();
      const token = await tokens.issue(userId, sessionId, { authTime: clock.now(), amr: ['pwd'] });
      assert.deepEqual(decodeProtectedHeader(token), { alg, typ: 'at+jwt', kid: ring.signing.kid });
      const [, body] = token.split('.');
      const decoded = JSON.parse(Buffer.from(body as string, 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(decoded), ['sid', 'auth_time', 'amr', 'iss', 'aud', 'sub', 'jti', 'iat', 'exp']);
      const now = Math.floor(clock.now().getTime() / 1000);
      assert.deepEqual(
        { ...decoded, jti: undefined },
        {
          sid: sessionId,
          auth_time: now,
          amr: ['pwd'],
          iss: 'https://rampart.test',
          aud: 'rampart',
          sub: userId,
          jti: undefined,
          iat: now,
          exp: now + 900,
        },
      );
      // The same claims through jose give the same token: nothing about the format changed.
      const header = { alg, typ: 'at+jwt', kid: ring.signing.kid };
      assert.equal(token, await new SignJWT(decoded).setProtectedHeader(header).sign(ring.signing.signKey as KeyObject));
      const verified = await tokens.verify(token);
      assert.equal(verified.sub, userId);
      assert.equal(verified.sid, sessionId);
    });
  }
});
