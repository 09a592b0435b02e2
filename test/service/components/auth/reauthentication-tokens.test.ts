/**
 * Authentication always issues fresh session tokens (ASVS 5.0 7.2.4): a reauthentication replaces the
 * session's refresh token — the one held before is refused — and a new sign-in opens its own session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8'));
}

describe('fresh tokens on every authentication', () => {
  let t: InProcessTestApp;
  before(async () => {
    // No grace for a just-rotated token: the old refresh token must be refused outright.
    t = await startTestApp({ env: { REFRESH_REUSE_GRACE_SECONDS: '0' } });
  });
  after(() => t.close());

  it('a reauthentication replaces the refresh token of the session: the one held before is refused', async () => {
    const user = await signedUpUser(t);
    const again = await api(t, 'POST', '/v1/auth/reauthenticate', {
      token: user.access_token,
      json: { password: user.password },
    });
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.body.refresh_token, user.refresh_token);
    assert.notEqual(again.body.access_token, user.access_token);
    assert.equal(claims(again.body.access_token).sid, claims(user.access_token).sid, 'the same session, proved again');

    const old = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: user.refresh_token } });
    assert.equal(old.status, 401, old.text);
    const fresh = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: again.body.refresh_token } });
    assert.equal(fresh.status, 200, fresh.text);
  });

  it('a new sign-in opens a session of its own with tokens of its own', async () => {
    const user = await signedUpUser(t);
    const login = await api(t, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password } });
    assert.equal(login.status, 200);
    assert.notEqual(claims(login.body.access_token).sid, claims(user.access_token).sid);
    assert.notEqual(login.body.refresh_token, user.refresh_token);
  });
});
