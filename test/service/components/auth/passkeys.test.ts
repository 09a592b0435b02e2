import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fakeClock, type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createTestDatabase } from '../../../helpers/database.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { testRedisUrl } from '../../../helpers/services.js';
import { createSoftwareAuthenticator, type SoftwareAuthenticator } from '../../../helpers/software-authenticator.js';
import { type SignedUpUser, signedUpUser, uniqueEmail } from '../../../helpers/users.js';
import { redisKeyPrefix } from '../../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('passkeys');

const RP_ID = 'rampart.test';
const ORIGIN = 'https://app.rampart.test';
const clock = fakeClock();
let app: InProcessTestApp;

before(async () => {
  app = await startTestApp({ clock, env: { WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: ORIGIN, ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' } });
});
after(() => app.close());

function authenticator(options: { backedUp?: boolean; counts?: boolean } = {}): SoftwareAuthenticator {
  return createSoftwareAuthenticator({ rpId: RP_ID, origin: ORIGIN, ...options });
}

function claimsOf(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8'));
}

async function registrationOptions(user: SignedUpUser) {
  const res = await api(app, 'POST', '/v1/auth/webauthn/register/options', { token: user.access_token });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Registers `key` for `user` through the API; the answer of POST /v1/auth/webauthn/register. */
async function register(user: SignedUpUser, key: SoftwareAuthenticator, name = 'Test key') {
  const options = await registrationOptions(user);
  return api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: key.register(options), name } });
}

async function loginOptions(email?: string) {
  const res = await api(app, 'POST', '/v1/auth/webauthn/login/options', email === undefined ? {} : { json: { email } });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function auditOf(userId: string | null, type: string) {
  await app.deps.audit.log.flush();
  const query = app.deps.db.knex('audit_events').where({ type });
  if (userId) query.andWhere({ user_id: userId });
  return query;
}

describe('passkeys: registration and management', () => {
  it('a registered passkey is listed; the options ask for a discoverable credential with user verification and exclude it next time', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    const options = await registrationOptions(user);
    assert.equal(options.rp.id, RP_ID);
    assert.equal(options.authenticatorSelection.residentKey, 'required');
    assert.equal(options.authenticatorSelection.userVerification, 'required');
    assert.equal(options.attestation, 'none');
    assert.deepEqual(options.excludeCredentials, []);
    assert.equal(Buffer.from(options.user.id, 'base64url').toString('hex'), user.user.id.replace(/-/g, ''));

    const added = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: key.register(options), name: ' Laptop ' } });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.body.name, 'Laptop');

    const list = await api(app, 'GET', '/v1/auth/webauthn/credentials', { token: user.access_token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { items: [{ id: added.body.id, name: 'Laptop', created_at: added.body.created_at, last_used_at: null }], next_cursor: null });
    const next = await registrationOptions(user);
    assert.deepEqual(
      next.excludeCredentials.map((c: { id: string }) => c.id),
      [key.credentialId],
    );
    assert.equal((await auditOf(user.user.id, 'passkey_added')).length, 1);
    const [notice] = await app.deps.db.knex('mail_outbox').where({ to_address: user.email, template: 'passkey_added' });
    assert.ok(notice, 'the owner is told by mail');
  });

  it('registering without a recent authentication is refused with reauthentication_required', async () => {
    const user = await signedUpUser(app);
    const options = await registrationOptions(user);
    clock.advance(301_000);
    try {
      const res = await api(app, 'POST', '/v1/auth/webauthn/register/options', { token: user.access_token });
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'reauthentication_required');
      const reg = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: authenticator().register(options), name: 'Late' } });
      assert.equal(reg.status, 401);
      assert.equal(reg.body.code, 'reauthentication_required');
    } finally {
      clock.advance(-301_000);
    }
  });

  it('the same credential cannot be registered twice, by the same account or another', async () => {
    const user = await signedUpUser(app);
    const other = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    const again = await register(user, key);
    assert.equal(again.status, 400);
    assert.equal(again.body.code, 'invalid_webauthn_response');
    const elsewhere = await register(other, key);
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.body.code, 'invalid_webauthn_response');
  });

  it('a registration response is refused for another origin, another RP ID, no user verification, another user’s challenge or a spent one', async () => {
    const user = await signedUpUser(app);
    const other = await signedUpUser(app);
    const cases: Array<[string, (options: any) => Promise<unknown>]> = [
      ['wrong origin', async (options) => authenticator().register(options, { origin: 'https://evil.example' })],
      ['wrong RP ID', async (options) => authenticator().register(options, { rpId: 'evil.example' })],
      ['no user verification', async (options) => authenticator().register(options, { userVerified: false })],
      ['a get, not a create', async (options) => authenticator().register(options, { type: 'webauthn.get' })],
    ];
    for (const [label, respond] of cases) {
      const options = await registrationOptions(user);
      const res = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: await respond(options), name: 'x' } });
      assert.equal(res.status, 400, label);
      assert.equal(res.body.code, 'invalid_webauthn_response', label);
    }
    // A challenge issued to another account is not this account's.
    const foreign = await registrationOptions(other);
    const res = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: authenticator().register(foreign), name: 'x' } });
    assert.equal(res.body.code, 'invalid_webauthn_response');
    // It stays the other account's, for one attempt.
    const own = { token: other.access_token, json: { response: authenticator().register(foreign), name: 'x' } };
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/register', own)).status, 201);
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/register', { ...own, json: { response: authenticator().register(foreign), name: 'y' } })).status, 400, 'spent');
    assert.deepEqual((await api(app, 'GET', '/v1/auth/webauthn/credentials', { token: user.access_token })).body.items, []);
  });

  it('malformed registration bodies are 400 validation_failed, never 500', async () => {
    const user = await signedUpUser(app);
    const options = await registrationOptions(user);
    const good = authenticator().register(options) as any;
    const bodies: unknown[] = [
      {},
      { response: good },
      { response: good, name: '' },
      { response: good, name: 'x'.repeat(65) },
      { response: good, name: 'bell\u0007' },
      { response: { ...good, id: 'not base64url!' }, name: 'x' },
      { response: { ...good, type: 'password' }, name: 'x' },
      { response: { ...good, response: { ...good.response, attestationObject: 'A'.repeat(40_000) } }, name: 'x' },
      { response: { ...good, response: { clientDataJSON: good.response.clientDataJSON } }, name: 'x' },
      { response: 'string', name: 'x' },
      { response: good, name: 'x', extra: true },
    ];
    for (const json of bodies) {
      const res = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json });
      assert.equal(res.status, 400, JSON.stringify(json).slice(0, 120));
      assert.equal(res.body.code, 'validation_failed');
    }
    // Well-formed but meaningless: base64url that is not JSON, an attestation that is not CBOR.
    const garbled = { ...good, response: { ...good.response, clientDataJSON: 'AAAA', attestationObject: 'AAAA' } };
    const res = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: garbled, name: 'x' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_webauthn_response');
  });

  it('a passkey is renamed by its owner; another user’s passkey is 404 to rename and to delete; deletion needs a recent authentication', async () => {
    const owner = await signedUpUser(app);
    const intruder = await signedUpUser(app);
    const added = await register(owner, authenticator());
    const id = added.body.id as string;

    const renamed = await api(app, 'PATCH', `/v1/auth/webauthn/credentials/${id}`, { token: owner.access_token, json: { name: 'Phone' } });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.name, 'Phone');
    for (const method of ['PATCH', 'DELETE']) {
      const res = await api(app, method, `/v1/auth/webauthn/credentials/${id}`, { token: intruder.access_token, ...(method === 'PATCH' ? { json: { name: 'Mine' } } : {}) });
      assert.equal(res.status, 404, method);
      assert.equal(res.body.code, 'not_found');
    }
    for (const bogus of ['not-a-uuid', '00000000-0000-0000-0000-000000000000']) {
      assert.equal((await api(app, 'DELETE', `/v1/auth/webauthn/credentials/${bogus}`, { token: owner.access_token })).status, 404);
    }
    assert.equal((await auditOf(intruder.user.id, 'foreign_resource_refused')).length >= 1, true);

    clock.advance(301_000);
    try {
      const late = await api(app, 'DELETE', `/v1/auth/webauthn/credentials/${id}`, { token: owner.access_token });
      assert.equal(late.status, 401);
      assert.equal(late.body.code, 'reauthentication_required');
    } finally {
      clock.advance(-301_000);
    }
    assert.equal((await api(app, 'DELETE', `/v1/auth/webauthn/credentials/${id}`, { token: owner.access_token })).status, 204);
    assert.deepEqual((await api(app, 'GET', '/v1/auth/webauthn/credentials', { token: owner.access_token })).body.items, []);
    assert.equal((await auditOf(owner.user.id, 'passkey_removed')).length, 1);
    assert.equal((await app.deps.db.knex('mail_outbox').where({ to_address: owner.email, template: 'passkey_removed' })).length, 1);
  });

  it('an account holds at most 20 passkeys', async () => {
    const user = await signedUpUser(app);
    for (let i = 0; i < 20; i++) assert.equal((await register(user, authenticator(), `Key ${i}`)).status, 201);
    const res = await api(app, 'POST', '/v1/auth/webauthn/register/options', { token: user.access_token });
    assert.equal(res.status, 409);
    assert.equal(res.body.code, 'passkey_limit_reached');
    assert.equal((await api(app, 'GET', '/v1/auth/webauthn/credentials', { token: user.access_token })).body.items.length, 20);
  });
});

describe('passkeys: signing in', () => {
  it('a discoverable sign-in (no email) answers a token pair whose amr is hwk, user and mfa, with a recent auth_time', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    const added = await register(user, key);
    const options = await loginOptions();
    assert.deepEqual(options.allowCredentials, []);
    assert.equal(options.userVerification, 'required');
    assert.equal(options.rpId, RP_ID);

    const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(options) } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.user.id, user.user.id);
    assert.equal(res.body.device_token.length, 43);
    const claims = claimsOf(res.body.access_token);
    assert.deepEqual(claims.amr, ['hwk', 'user', 'mfa']);
    assert.ok(Math.abs((claims.auth_time as number) - clock.now().getTime() / 1000) < 5);
    assert.equal((await api(app, 'GET', '/v1/me', { token: res.body.access_token })).status, 200);
    // The session is a recent authentication: a sensitive operation goes through.
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/register/options', { token: res.body.access_token })).status, 200);
    const list = await api(app, 'GET', '/v1/auth/webauthn/credentials', { token: res.body.access_token });
    assert.ok(list.body.items.find((p: { id: string }) => p.id === added.body.id).last_used_at);
    const row = await app.deps.db.knex('webauthn_credentials').where({ id: added.body.id }).first();
    assert.equal(Number(row.sign_count), 1);
    const refreshed = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: res.body.refresh_token } });
    assert.deepEqual(claimsOf(refreshed.body.access_token).amr, ['hwk', 'user', 'mfa'], 'the session keeps its amr');
  });

  it('a synced passkey (backed up, no counter) signs in as swk, and again and again', async () => {
    const user = await signedUpUser(app);
    const key = authenticator({ backedUp: true, counts: false });
    assert.equal((await register(user, key)).status, 201);
    for (let i = 0; i < 2; i++) {
      const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(await loginOptions(user.email)) } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(claimsOf(res.body.access_token).amr, ['swk', 'user', 'mfa']);
    }
  });

  it('wrong origin, wrong RP ID, no user verification, a replayed assertion and an unknown credential are each the same 401', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    const refusals: Array<[string, () => Promise<unknown>, string]> = [
      ['wrong origin', async () => key.assert(await loginOptions(), { origin: 'https://evil.example' }), 'wrong_origin'],
      ['wrong RP ID', async () => key.assert(await loginOptions(), { rpId: 'evil.example' }), 'wrong_rp_id'],
      ['no user verification', async () => key.assert(await loginOptions(), { userVerified: false }), 'user_not_verified'],
      ['unknown credential', async () => authenticator().assert(await loginOptions()), 'unknown_credential'],
      ['a challenge never issued', async () => key.assert({ challenge: Buffer.alloc(32, 1).toString('base64url') }), 'unknown_challenge'],
    ];
    const bodies = new Set<string>();
    for (const [label, respond, reason] of refusals) {
      const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: await respond() } });
      assert.equal(res.status, 401, label);
      assert.equal(res.body.code, 'invalid_credentials', label);
      bodies.add(JSON.stringify({ ...res.body, request_id: undefined }));
      const failed = await auditOf(null, 'passkey_login_failed');
      assert.ok(failed.some((e: { details: { reason: string } }) => e.details.reason === reason), `${label} audited as ${reason}`);
    }
    assert.equal(bodies.size, 1, 'one answer for every refusal');

    const options = await loginOptions();
    const assertion = key.assert(options);
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: assertion } })).status, 200);
    const replay = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: assertion } });
    assert.equal(replay.status, 401, 'the challenge was spent');
    assert.equal(replay.body.code, 'invalid_credentials');
    const metrics = await app.deps.metrics.registry.getSingleMetricAsString('auth_fail_total');
    assert.match(metrics, /flow="passkey_login",reason="unknown_challenge"/);
  });

  it('a challenge issued for registration is not accepted for sign-in', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    const creation = await registrationOptions(user);
    const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert({ challenge: creation.challenge }) } });
    assert.equal(res.status, 401);
  });

  it('a signature counter that goes backwards is refused and audited as passkey_counter_regression', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(await loginOptions(), { signCount: 5 }) } })).status, 200);
    for (const signCount of [3, 5]) {
      const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(await loginOptions(), { signCount }) } });
      assert.equal(res.status, 401, `counter ${signCount} after 5`);
      assert.equal(res.body.code, 'invalid_credentials');
    }
    const events = await auditOf(user.user.id, 'passkey_counter_regression');
    assert.equal(events.length, 2);
    assert.equal(events[0].details.stored_sign_count, 5);
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(await loginOptions(), { signCount: 6 }) } })).status, 200);
  });

  it('options by email list that account’s passkeys; for an unknown address they look the same and are stable', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    const known = await loginOptions(user.email);
    assert.deepEqual(
      known.allowCredentials.map((c: { id: string }) => c.id),
      [key.credentialId],
    );
    const unknownEmail = uniqueEmail('nobody');
    const unknown = await loginOptions(unknownEmail);
    const again = await loginOptions(unknownEmail);
    const shape = (options: any) => ({
      keys: Object.keys(options).sort(),
      credentials: options.allowCredentials.map((c: any) => ({ keys: Object.keys(c).sort(), type: c.type, idLength: c.id.length, transports: c.transports.length })),
      challengeLength: options.challenge.length,
    });
    assert.deepEqual(shape(unknown), shape(known));
    assert.deepEqual(again.allowCredentials, unknown.allowCredentials, 'stable for the same address');
    assert.notDeepEqual((await loginOptions(uniqueEmail('nobody'))).allowCredentials, unknown.allowCredentials, 'different for another address');
    const noPasskey = await signedUpUser(app);
    assert.deepEqual(shape(await loginOptions(noPasskey.email)), shape(known), 'an account without passkeys looks the same too');
    // Options asked for one account accept only that account's passkeys.
    const other = await signedUpUser(app);
    const otherKey = authenticator();
    assert.equal((await register(other, otherKey)).status, 201);
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: otherKey.assert(known) } })).status, 401);
  });

  it('a disabled account is told so (403) only after the passkey checked out', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    assert.equal((await register(user, key)).status, 201);
    await app.deps.db.knex('users').where({ id: user.user.id }).update({ disabled_at: clock.now() });
    const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: key.assert(await loginOptions()) } });
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'account_disabled');
    const stranger = await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: authenticator().assert(await loginOptions()) } });
    assert.equal(stranger.status, 401);
  });

  it('malformed sign-in bodies are 400, never 500', async () => {
    const good = authenticator().assert(await loginOptions()) as any;
    const bodies: unknown[] = [
      {},
      { response: null },
      { response: { ...good, response: { ...good.response, signature: undefined } } },
      { response: { ...good, response: { ...good.response, userHandle: '' } } },
      { response: { ...good, rawId: 'x'.repeat(2000) } },
      { response: good, device_token: 'x'.repeat(300) },
    ];
    for (const json of bodies) {
      const res = await api(app, 'POST', '/v1/auth/webauthn/login', { json });
      assert.equal(res.status, 400, JSON.stringify(json).slice(0, 120));
    }
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login/options', { json: { email: 5 } })).status, 400);
    const garbled = { ...good, response: { ...good.response, clientDataJSON: 'AAAA', authenticatorData: 'AAAA' } };
    assert.equal((await api(app, 'POST', '/v1/auth/webauthn/login', { json: { response: garbled } })).status, 401);
  });
});

describe('passkeys as a second factor (for the MFA step and step-up)', () => {
  it('verifyPasskeySecondFactor accepts an assertion answering that user’s challenge for that flow, once', async () => {
    const user = await signedUpUser(app);
    const key = authenticator();
    const added = await register(user, key);
    const service = app.deps.auth.service;
    assert.equal(await service.hasPasskeys(user.user.id), true);
    assert.equal(await service.hasPasskeys((await signedUpUser(app)).user.id), false);
    const options = await service.passkeySecondFactorOptions(user.user.id, 'mfa');
    assert.deepEqual(
      options.allowCredentials?.map((c) => c.id),
      [key.credentialId],
    );
    const assertion = key.assert(options) as any;
    const proof = await service.verifyPasskeySecondFactor(user.user.id, assertion, 'mfa');
    assert.deepEqual(proof, { credentialId: added.body.id, amr: ['hwk', 'user'] });
    await assert.rejects(service.verifyPasskeySecondFactor(user.user.id, assertion, 'mfa'), { code: 'invalid_code' });

    const other = await signedUpUser(app);
    const forOther = await service.passkeySecondFactorOptions(other.user.id, 'mfa');
    await assert.rejects(service.verifyPasskeySecondFactor(user.user.id, key.assert(forOther) as any, 'mfa'), { code: 'invalid_code' }, 'another user’s challenge');
    const forMfa = await service.passkeySecondFactorOptions(user.user.id, 'mfa');
    await assert.rejects(service.verifyPasskeySecondFactor(user.user.id, key.assert(forMfa) as any, 'reauth'), { code: 'invalid_code' }, 'another flow’s challenge');
    const forReauth = await service.passkeySecondFactorOptions(user.user.id, 'reauth');
    assert.equal(forReauth.userVerification, 'required');
    await assert.rejects(
      service.verifyPasskeySecondFactor(user.user.id, key.assert(forReauth, { userVerified: false }) as any, 'reauth'),
      { code: 'invalid_code' },
      'a step-up requires user verification',
    );
    const otherKey = authenticator();
    assert.equal((await register(other, otherKey)).status, 201);
    const mine = await service.passkeySecondFactorOptions(user.user.id, 'mfa');
    await assert.rejects(service.verifyPasskeySecondFactor(user.user.id, otherKey.assert(mine) as any, 'mfa'), { code: 'invalid_code' }, 'another user’s passkey');
  });
});

describe('passkey challenges across replicas', () => {
  const redisUrl = testRedisUrl();
  it('a challenge issued by one replica is accepted by another, once', { skip: !redisUrl && 'needs Redis (TEST_REDIS_URL) shared by two replicas' }, async (t) => {
    const database = await createTestDatabase();
    const env = {
      REDIS_URL: redisUrl as string,
      REDIS_KEY_PREFIX: `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}:`,
      WEBAUTHN_RP_ID: RP_ID,
      WEBAUTHN_ORIGINS: ORIGIN,
      AUDIT_HASH_KEY: randomBytes(32).toString('base64url'),
    };
    const a = await startTestApp({ database, env });
    const b = await startTestApp({ database, env });
    t.after(async () => {
      await a.close();
      await b.close();
      await database.drop();
    });
    await Promise.all([redisReady(a.deps.redis), redisReady(b.deps.redis)]);
    const user = await signedUpUser(a);
    const key = authenticator();
    const creation = await api(a, 'POST', '/v1/auth/webauthn/register/options', { token: user.access_token });
    const added = await api(b, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: key.register(creation.body), name: 'Key' } });
    assert.equal(added.status, 201, added.text);

    const options = await api(b, 'POST', '/v1/auth/webauthn/login/options', { json: { email: user.email } });
    assert.deepEqual(options.body.allowCredentials.map((c: { id: string }) => c.id), [key.credentialId]);
    const other = await api(a, 'POST', '/v1/auth/webauthn/login/options', { json: { email: user.email } });
    assert.notEqual(other.body.challenge, options.body.challenge);
    const assertion = key.assert(options.body);
    assert.equal((await api(a, 'POST', '/v1/auth/webauthn/login', { json: { response: assertion } })).status, 200);
    assert.equal((await api(b, 'POST', '/v1/auth/webauthn/login', { json: { response: assertion } })).status, 401, 'spent on every replica');
  });
});
