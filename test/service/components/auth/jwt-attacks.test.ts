import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, type JWTPayload, SignJWT } from 'jose';
import { generateEd25519Jwk, kidForSecret } from '../../../../service/src/components/auth/keyring.js';
import { startTestApp, TEST_JWT_SECRET, type InProcessTestApp } from '../../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD } from '../../../helpers/users.js';

const SECRET = new Uint8Array(Buffer.from(TEST_JWT_SECRET, 'base64url'));
const KID = kidForSecret(SECRET);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function split(token: string) {
  const [h, p, s] = token.split('.');
  return { h: h as string, p: p as string, s: s as string };
}

/** Signs arbitrary header/claims with the server's real HS256 secret: only the claims are wrong. */
async function signWithServerKey(header: Record<string, unknown>, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header } as { alg: string }).sign(SECRET);
}

async function expectInvalid(t: InProcessTestApp, token: string, label: string) {
  const res = await api(t, 'GET', '/v1/me', { token, headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 401, `${label}: status ${res.status} ${res.text}`);
  assert.equal(res.body.code, 'invalid_token', label);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', label);
}

describe('JWT attack suite: every forged or malformed token is 401 invalid_token, never 500', () => {
  let database: TestDatabase;
  let t: InProcessTestApp;
  let valid: string;
  let refreshToken: string;
  let claims: JWTPayload;
  before(async () => {
    database = await createTestDatabase();
    t = await startTestApp({ database });
    const res = await api(t, 'POST', '/v1/auth/signup', {
      json: { email: 'jwt-target@example.com', password: TEST_PASSWORD },
    });
    valid = res.body.access_token;
    refreshToken = res.body.refresh_token;
    claims = decodeJwt(valid);
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  it('accepts the genuine token (control)', async () => {
    assert.equal((await api(t, 'GET', '/v1/me', { token: valid })).status, 200);
  });

  it('refuses alg "none" in every casing', async () => {
    const { p } = split(valid);
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await expectInvalid(t, `${b64({ alg, typ: 'at+jwt', kid: KID })}.${p}.`, `alg ${alg}`);
    }
  });

  it('refuses a stripped or flipped signature', async () => {
    const { h, p, s } = split(valid);
    await expectInvalid(t, `${h}.${p}.`, 'stripped signature');
    await expectInvalid(t, `${h}.${p}`, 'no signature segment');
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    await expectInvalid(t, `${h}.${p}.${flipped}`, 'flipped signature');
  });

  it('refuses an edited payload under the original signature', async () => {
    const { h, s } = split(valid);
    await expectInvalid(t, `${h}.${b64({ ...claims, sub: randomUUID() })}.${s}`, 'edited sub');
    await expectInvalid(t, `${h}.${b64({ ...claims, exp: (claims.exp as number) + 86_400 })}.${s}`, 'extended exp');
  });

  it('refuses unknown and path-traversal kids', async () => {
    for (const kid of ['unknown', '../../../../etc/passwd', "' OR 1=1 --", '', 'x'.repeat(2000)]) {
      await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid }, claims), `kid ${kid.slice(0, 20)}`);
    }
    const noKid = await signWithServerKey({ typ: 'at+jwt' }, claims);
    await expectInvalid(t, noKid, 'no kid');
  });

  it('refuses tokens carrying jku, jwk, x5u or x5c headers, even when correctly signed', async () => {
    const attackerJwk = await generateEd25519Jwk('attacker');
    for (const extra of [
      { jku: 'https://attacker.example/jwks.json' },
      { jwk: { kty: 'OKP', crv: 'Ed25519', x: attackerJwk.x } },
      { x5u: 'https://attacker.example/cert.pem' },
      { x5c: ['MIIB'] },
    ]) {
      await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID, ...extra }, claims), Object.keys(extra)[0] as string);
    }
  });

  it('refuses an unknown critical header', async () => {
    // jose will not sign a crit it does not understand either, so sign by hand with the server's key.
    const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: KID, crit: ['urn:example:must-understand'], 'urn:example:must-understand': true })}.${b64(claims)}`;
    const signature = createHmac('sha256', SECRET).update(signingInput).digest('base64url');
    await expectInvalid(t, `${signingInput}.${signature}`, 'unknown crit');
  });

  it('refuses expired tokens and tokens not yet valid (future nbf or iat)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, iat: now - 2000, exp: now - 60 }), 'expired');
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, nbf: now + 3600 }), 'future nbf');
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, iat: now + 3600, exp: now + 7200 }), 'future iat');
  });

  it('refuses the wrong issuer, audience or typ', async () => {
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, iss: 'evil' }), 'iss');
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, aud: 'another-api' }), 'aud');
    await expectInvalid(t, await signWithServerKey({ typ: 'JWT', kid: KID }, claims), 'typ JWT');
    await expectInvalid(t, await signWithServerKey({ kid: KID }, claims), 'no typ');
  });

  it('refuses tokens missing a required claim or with malformed subject/session ids', async () => {
    for (const drop of ['sid', 'jti', 'sub', 'iat', 'exp', 'iss', 'aud']) {
      const { [drop]: _, ...rest } = claims as Record<string, unknown>;
      await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, rest), `missing ${drop}`);
    }
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, sub: 'admin' }), 'sub not a uuid');
    await expectInvalid(t, await signWithServerKey({ typ: 'at+jwt', kid: KID }, { ...claims, sid: randomUUID() }), 'unknown session');
  });

  it('refuses a refresh token used as an access token', async () => {
    await expectInvalid(t, refreshToken, 'refresh token');
  });

  it('refuses the wrong number of segments and an oversized header', async () => {
    const { h, p, s } = split(valid);
    for (const token of [`${h}`, `${h}.${p}.${s}.${s}`, `${h}.${p}.${s}.${s}.${s}`, '...', 'a.b.c']) {
      await expectInvalid(t, token, `segments ${token.split('.').length}`);
    }
    const huge = await signWithServerKey({ typ: 'at+jwt', kid: KID, pad: 'x'.repeat(10_000) }, claims);
    await expectInvalid(t, huge, 'oversized header');
    await expectInvalid(t, `${b64('not json')}.${p}.${s}`, 'header not JSON');
  });
});

describe('JWT attack suite with EdDSA keys', () => {
  let database: TestDatabase;
  let t: InProcessTestApp;
  let valid: string;
  let publicX: string;
  before(async () => {
    const signing = await generateEd25519Jwk('ed-1');
    publicX = signing.x as string;
    database = await createTestDatabase();
    t = await startTestApp({ database, env: { JWT_KEYS: JSON.stringify({ signing: 'ed-1', keys: [signing] }) } });
    const res = await api(t, 'POST', '/v1/auth/signup', {
      json: { email: 'ed-target@example.com', password: TEST_PASSWORD },
    });
    valid = res.body.access_token;
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  it('signs with EdDSA and publishes the public key (only) at the JWKS endpoint', async () => {
    assert.equal(JSON.parse(Buffer.from(split(valid).h, 'base64url').toString()).alg, 'EdDSA');
    assert.equal((await api(t, 'GET', '/v1/me', { token: valid })).status, 200);
    const jwks = await api(t, 'GET', '/.well-known/jwks.json');
    assert.equal(jwks.body.keys.length, 1);
    assert.equal(jwks.body.keys[0].kid, 'ed-1');
    assert.equal(jwks.body.keys[0].d, undefined, 'no private part');
  });

  it('refuses HS256 tokens signed with the public key (algorithm confusion)', async () => {
    const claims = decodeJwt(valid);
    for (const secret of [Buffer.from(publicX, 'base64url'), Buffer.from(publicX), Buffer.from(JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: publicX }))]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'ed-1' }).sign(secret);
      await expectInvalid(t, forged, 'HS256 with the public key');
    }
  });
});
