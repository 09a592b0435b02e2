import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate } from 'otplib';
import { fakeClock, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

/**
 * MFA_REQUIRED (ASVS 5.0 6.3.3: the application is reached with more than one factor): a session that
 * proved only a password reaches enrolment and nothing else; once it proves the new factor, everything.
 */
describe('MFA_REQUIRED: no access to the application on a password alone', () => {
  it('a password-only session may enrol and step up, nothing more; with the second factor proved it reaches everything', async (t) => {
    const clock = fakeClock();
    const app = await startTestApp({ clock, env: { MFA_REQUIRED: 'true' } });
    t.after(() => app.close());
    const now = () => Math.floor(clock.now().getTime() / 1000);
    const u = await signedUpUser(app);

    const blocked = await api(app, 'POST', '/v1/conversations', { token: u.access_token, json: { title: 'x' } });
    assert.deepEqual([blocked.status, blocked.body.code], [403, 'mfa_enrolment_required']);
    assert.equal((await api(app, 'GET', '/v1/conversations', { token: u.access_token })).status, 403);
    assert.equal((await api(app, 'GET', '/v1/auth/sessions', { token: u.access_token })).status, 403);
    assert.equal((await api(app, 'GET', '/v1/me', { token: u.access_token })).status, 200, 'the account itself is readable');

    const enrol = await api(app, 'POST', '/v1/auth/mfa/totp', { token: u.access_token });
    assert.equal(enrol.status, 200);
    const secret = enrol.body.secret as string;
    assert.equal((await api(app, 'POST', '/v1/auth/mfa/totp/confirm', { token: u.access_token, json: { code: await generate({ secret, epoch: now() }) } })).status, 200);
    assert.equal((await api(app, 'GET', '/v1/conversations', { token: u.access_token })).status, 403, 'enrolling is not proving');
    clock.advance(30_000);
    const stepUp = await api(app, 'POST', '/v1/auth/reauthenticate', { token: u.access_token, json: { password: u.password, code: await generate({ secret, epoch: now() }) } });
    assert.equal(stepUp.status, 200, stepUp.text);
    assert.equal((await api(app, 'POST', '/v1/conversations', { token: stepUp.body.access_token, json: { title: 'now' } })).status, 201);

    clock.advance(30_000);
    const login = await api(app, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    const verified = await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: login.body.mfa_token, code: await generate({ secret, epoch: now() }) } });
    assert.equal((await api(app, 'GET', '/v1/conversations', { token: verified.body.access_token })).status, 200);
    // A refresh keeps what the session proved.
    const refreshed = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: verified.body.refresh_token } });
    assert.equal((await api(app, 'GET', '/v1/conversations', { token: refreshed.body.access_token })).status, 200);
  });

  it('off (the default), a password is enough', async (t) => {
    const app = await startTestApp();
    t.after(() => app.close());
    const u = await signedUpUser(app);
    assert.equal((await api(app, 'GET', '/v1/conversations', { token: u.access_token })).status, 200);
  });
});
