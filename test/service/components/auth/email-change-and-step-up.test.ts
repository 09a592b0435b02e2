import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { accountWorld, verifiedAccount } from './account-fixture.js';

const FIVE_MINUTES = 300_000;

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8'));
}

describe('recent authentication (step-up)', () => {
  it('tokens carry auth_time and amr; a refresh keeps them; past REAUTH_MAX_AGE_SECONDS sensitive routes answer 401 reauthentication_required until a reauthentication', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const c = claims(a.access);
    assert.deepEqual(c.amr, ['pwd']);
    assert.ok(typeof c.auth_time === 'number' && Math.abs((c.auth_time as number) * 1000 - w.clock.now().getTime()) < 5000);

    w.clock.advance(FIVE_MINUTES + 1000);
    const refreshed = await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: a.refresh } });
    assert.equal(claims(refreshed.body.access_token).auth_time, c.auth_time, 'a refresh is not an authentication');
    for (const [method, path, json] of [
      ['POST', '/v1/auth/email', { new_email: uniqueEmail('new') }],
      ['GET', '/v1/me/export', undefined],
      ['DELETE', '/v1/me', undefined],
      ['POST', '/v1/auth/logout-all', undefined],
    ] as const) {
      const res = await api(w.app, method, path, { token: refreshed.body.access_token, ...(json ? { json } : {}) });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.code, 'reauthentication_required');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_user_authentication".*max_age=300/);
    }
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: refreshed.body.access_token })).status, 200, 'ordinary routes are unaffected');

    const wrong = await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: refreshed.body.access_token, json: { password: 'not my password at all 9' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'invalid_credentials');
    const again = await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: refreshed.body.access_token, json: { password: TEST_PASSWORD } });
    assert.equal(again.status, 200);
    assert.ok((claims(again.body.access_token).auth_time as number) > (c.auth_time as number));
    assert.equal(claims(again.body.access_token).sid, c.sid, 'the same session');
    assert.equal((await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: refreshed.body.refresh_token } })).status, 401, 'the earlier refresh token is gone');
    assert.equal((await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: again.body.refresh_token } })).status, 200);
    const exported = await api(w.app, 'GET', '/v1/me/export', { token: again.body.access_token });
    assert.equal(exported.status, 200);
  });

  it('wrong passwords at reauthentication are counted like failed logins: locked out after LOGIN_MAX_FAILURES', async (t) => {
    const w = await accountWorld(t, { LOGIN_MAX_FAILURES: '3' });
    const a = await verifiedAccount(w);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: a.access, json: { password: `wrong guess number ${i}x` } })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const locked = await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: a.access, json: { password: TEST_PASSWORD } });
    assert.equal(locked.body.code, 'too_many_attempts', 'even the right password waits out the lock');
  });

  it('a session opened by verifying an address is not a recent authentication', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('fresh');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    const verified = await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: w.token(await w.mailTo(email), 'verify-email') } });
    assert.equal(claims(verified.body.access_token).auth_time, 0);
    const res = await api(w.app, 'GET', '/v1/me/export', { token: verified.body.access_token });
    assert.equal(res.body.code, 'reauthentication_required');
  });
});

describe('email change, against a real SMTP server', () => {
  it('mails a confirmation to the new address and a notice to the old; confirming moves the account', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const next = uniqueEmail('moved');
    const req = await api(w.app, 'POST', '/v1/auth/email', { token: a.access, json: { new_email: next } });
    assert.deepEqual([req.status, req.body], [202, { status: 'confirmation_sent' }]);
    const confirm = await w.mailTo(next, 'Confirm your new email address');
    const notice = await w.mailTo(a.email, 'A change of your email address was requested');
    assert.match(notice.text, new RegExp(next.replace(/[.+]/g, '\\$&')));
    assert.doesNotMatch(notice.text, /token=/, 'the old address gets no link');
    const token = w.token(confirm, 'confirm-email');
    assert.equal((await api(w.app, 'POST', '/v1/auth/email/confirm', { json: { token } })).status, 204);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: TEST_PASSWORD } })).status, 401);
    const login = await api(w.app, 'POST', '/v1/auth/login', { json: { email: next, password: TEST_PASSWORD } });
    assert.equal(login.status, 200);
    const me = await api(w.app, 'GET', '/v1/me', { token: login.body.access_token });
    assert.deepEqual([me.body.email, me.body.email_verified], [next, true]);
    assert.equal((await api(w.app, 'POST', '/v1/auth/email/confirm', { json: { token } })).body.code, 'invalid_or_expired_token', 'once only');
  });

  it('a taken address gets the same 202 and a mail saying it already has an account; nothing changes', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const b = await verifiedAccount(w);
    const req = await api(w.app, 'POST', '/v1/auth/email', { token: a.access, json: { new_email: b.email } });
    assert.deepEqual([req.status, req.body], [202, { status: 'confirmation_sent' }]);
    const taken = await w.mailTo(b.email, 'This address already has an account');
    assert.doesNotMatch(taken.text, /token=/);
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: a.access })).body.email, a.email);
  });

  it('an address taken between the request and the confirmation is refused at confirmation', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const next = uniqueEmail('contested');
    await api(w.app, 'POST', '/v1/auth/email', { token: a.access, json: { new_email: next } });
    const token = w.token(await w.mailTo(next, 'Confirm your new email address'), 'confirm-email');
    await verifiedAccount(w, next);
    const res = await api(w.app, 'POST', '/v1/auth/email/confirm', { json: { token } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_or_expired_token');
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: a.access })).body.email, a.email);
  });

  it('an invalid new address is 400 invalid_email', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const res = await api(w.app, 'POST', '/v1/auth/email', { token: a.access, json: { new_email: 'not an address' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_email');
  });
});
