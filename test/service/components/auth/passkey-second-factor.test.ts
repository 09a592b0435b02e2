import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generate } from 'otplib';
import { fakeClock, type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createSoftwareAuthenticator, type SoftwareAuthenticator } from '../../../helpers/software-authenticator.js';
import { type SignedUpUser, signedUpUser } from '../../../helpers/users.js';

/**
 * A passkey as the second factor after a password (POST /v1/auth/mfa/verify {mfa_token, webauthn}) and
 * for a step-up (POST /v1/auth/reauthenticate {password, webauthn}), with a software authenticator.
 */
const RP_ID = 'rampart.test';
const ORIGIN = 'https://app.rampart.test';
const clock = fakeClock();
let app: InProcessTestApp;

before(async () => {
  app = await startTestApp({ clock, env: { WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: ORIGIN } });
});
after(() => app.close());

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8'));
}

async function withPasskey(): Promise<{ user: SignedUpUser; key: SoftwareAuthenticator }> {
  const user = await signedUpUser(app);
  const key = createSoftwareAuthenticator({ rpId: RP_ID, origin: ORIGIN });
  const options = (await api(app, 'POST', '/v1/auth/webauthn/register/options', { token: user.access_token })).body;
  const registered = await api(app, 'POST', '/v1/auth/webauthn/register', { token: user.access_token, json: { response: key.register(options), name: 'Laptop' } });
  assert.equal(registered.status, 201, registered.text);
  return { user, key };
}

async function passwordStep(user: SignedUpUser) {
  const res = await api(app, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password } });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

describe('a passkey as the second factor', () => {
  it('after the password, the answer offers the passkey with its options; the assertion completes the sign-in with amr pwd+hwk+user+mfa', async () => {
    const { user, key } = await withPasskey();
    const step = await passwordStep(user);
    assert.equal(step.mfa_required, true);
    assert.deepEqual(step.methods, ['webauthn'], 'no TOTP on this account: the passkey only');
    assert.equal(step.webauthn.rpId, RP_ID);
    assert.deepEqual(step.webauthn.allowCredentials.map((c: { id: string }) => c.id), [key.credentialId]);
    const assertion = key.assert(step.webauthn);
    const ok = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, webauthn: assertion } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(claims(ok.body.access_token).amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal((await api(app, 'GET', '/v1/me', { token: ok.body.access_token })).body.mfa.webauthn, true);

    // The same assertion again, on a fresh sign-in: its challenge was taken.
    const again = await passwordStep(user);
    const replay = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: again.mfa_token, webauthn: assertion } });
    assert.deepEqual([replay.status, replay.body.code], [400, 'invalid_code']);
  });

  it('options issued for another flow, another user, or a wrong origin do not pass as the second factor', async () => {
    const { user, key } = await withPasskey();
    const step = await passwordStep(user);
    const loginOptions = (await api(app, 'POST', '/v1/auth/webauthn/login/options', { json: { email: user.email } })).body;
    const otherFlow = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, webauthn: key.assert(loginOptions) } });
    assert.deepEqual([otherFlow.status, otherFlow.body.code], [400, 'invalid_code'], 'a sign-in challenge is not an MFA challenge');
    const wrongOrigin = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, webauthn: key.assert(step.webauthn, { origin: 'https://evil.example' }) } });
    assert.equal(wrongOrigin.status, 400);
    const other = await withPasskey();
    const otherStep = await passwordStep(other.user);
    const foreign = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, webauthn: other.key.assert(otherStep.webauthn) } });
    assert.equal(foreign.status, 400, "another user's passkey and challenge");
    const both = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: '123456', webauthn: key.assert(step.webauthn) } });
    assert.deepEqual([both.status, both.body.code], [400, 'validation_failed']);
  });

  it('with TOTP too, every method is offered; a step-up takes the password and the passkey', async () => {
    const { user, key } = await withPasskey();
    const enrol = await api(app, 'POST', '/v1/auth/mfa/totp', { token: user.access_token });
    const now = () => Math.floor(clock.now().getTime() / 1000);
    await api(app, 'POST', '/v1/auth/mfa/totp/confirm', { token: user.access_token, json: { code: await generate({ secret: enrol.body.secret, epoch: now() }) } });
    const step = await passwordStep(user);
    assert.deepEqual(step.methods, ['totp', 'recovery_code', 'webauthn']);
    const signedIn = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, webauthn: key.assert(step.webauthn) } });
    assert.equal(signedIn.status, 200, signedIn.text);

    clock.advance(301_000);
    const stale = await api(app, 'DELETE', '/v1/auth/mfa/totp', { token: signedIn.body.access_token });
    assert.equal(stale.body.code, 'reauthentication_required');
    const options = await api(app, 'POST', '/v1/auth/webauthn/reauthenticate/options', { token: signedIn.body.access_token });
    assert.equal(options.status, 200, options.text);
    assert.equal(options.body.userVerification, 'required');
    const passwordOnly = await api(app, 'POST', '/v1/auth/reauthenticate', { token: signedIn.body.access_token, json: { password: user.password } });
    assert.equal(passwordOnly.body.code, 'second_factor_required');
    const stepUp = await api(app, 'POST', '/v1/auth/reauthenticate', { token: signedIn.body.access_token, json: { password: user.password, webauthn: key.assert(options.body) } });
    assert.equal(stepUp.status, 200, stepUp.text);
    assert.deepEqual(claims(stepUp.body.access_token).amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal((await api(app, 'DELETE', '/v1/auth/mfa/totp', { token: stepUp.body.access_token })).status, 204);
  });
});
