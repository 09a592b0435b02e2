import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { accountWorld, APP_URL } from './account-fixture.js';

describe('email verification (EMAIL_VERIFICATION=required), against a real SMTP server', () => {
  it('signup answers 202 without tokens; the link arrives over STARTTLS with AUTH; login waits for it; following it signs in', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('verify');
    const signup = await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    assert.equal(signup.status, 202);
    assert.deepEqual(signup.body, { status: 'verification_sent' });

    const mail = await w.mailTo(email, 'Confirm your email address');
    assert.equal(mail.tls, true, 'sent after STARTTLS');
    assert.equal(mail.auth?.user, w.smtp.user, 'sent with AUTH');
    assert.match(mail.text, new RegExp(`${APP_URL}/verify-email\\?token=`));
    assert.match(mail.html, /<a href="https:\/\/app\.rampart\.test\/verify-email\?token=/);
    assert.doesNotMatch(mail.html, /<img|src=|@import|url\(/i, 'no remote content');
    assert.match(mail.text, /If you did not sign up/);

    const wrong = await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: 'not the password at all 1' } });
    assert.equal(wrong.status, 401, 'a wrong password says nothing about verification');
    const early = await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: TEST_PASSWORD } });
    assert.equal(early.status, 403);
    assert.equal(early.body.code, 'email_not_verified');

    const token = w.token(mail, 'verify-email');
    const verified = await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token } });
    assert.equal(verified.status, 200);
    const me = await api(w.app, 'GET', '/v1/me', { token: verified.body.access_token });
    assert.equal(me.body.email_verified, true);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: TEST_PASSWORD } })).status, 200);

    const replayed = await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token } });
    assert.equal(replayed.status, 400);
    assert.equal(replayed.body.code, 'invalid_or_expired_token');
    assert.ok(!w.app.logText().includes(token), 'the token never appears in the logs');

    // Every step is in the audit trail, the mail's delivery under the request id of the signup that caused it.
    await w.app.deps.audit.log.flush();
    const trail = (await w.app.deps.db.knex('audit_events').where({ user_id: me.body.id }).orderBy('id')) as { type: string; request_id: string; details: Record<string, unknown> }[];
    const types = trail.map((e) => e.type);
    for (const type of ['signup_succeeded', 'email_verification_requested', 'mail_sent', 'login_failed', 'email_verified', 'login_succeeded']) assert.ok(types.includes(type), `${type} in ${types}`);
    const sent = trail.find((e) => e.type === 'mail_sent');
    assert.equal(sent?.request_id, signup.headers.get('x-request-id'));
    assert.equal(sent?.details.template, 'verify_email');
    const refused = await w.app.deps.db.knex('audit_events').where({ type: 'account_token_refused', request_id: replayed.headers.get('x-request-id') }).first();
    assert.equal(refused?.details.reason, 'consumed', 'a refusal is audited with its reason');
  });

  it('a taken address gets the same 202, and its owner a mail saying an account exists — no second account, no token', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('taken');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    await w.mailTo(email, 'Confirm your email address');
    const again = await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: 'another long passphrase 77' } });
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { status: 'verification_sent' });
    const notice = await w.mailTo(email, 'You already have an account');
    assert.doesNotMatch(notice.text, /token=/);
    assert.equal((await w.app.deps.db.knex('users').where({ email }).count<{ count: string }[]>('* as count'))[0]?.count, '1');
  });

  it('a resend supersedes the earlier link; unknown and already verified addresses get the same 202 and no mail', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('resend');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    const first = w.token(await w.mailTo(email), 'verify-email');
    const resend = await api(w.app, 'POST', '/v1/auth/verify-email/resend', { json: { email } });
    assert.equal(resend.status, 202);
    const mails = await w.mailsTo(email);
    assert.equal(mails.length, 2);
    const second = w.token(mails[1] as (typeof mails)[number], 'verify-email');
    assert.notEqual(first, second);
    assert.equal((await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: first } })).body.code, 'invalid_or_expired_token', 'superseded');
    assert.equal((await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: second } })).status, 200);

    const unknown = uniqueEmail('nobody');
    const r1 = await api(w.app, 'POST', '/v1/auth/verify-email/resend', { json: { email: unknown } });
    const r2 = await api(w.app, 'POST', '/v1/auth/verify-email/resend', { json: { email } });
    assert.deepEqual([r1.status, r1.body], [202, { status: 'verification_sent' }]);
    assert.deepEqual([r2.status, r2.body], [202, { status: 'verification_sent' }]);
    assert.equal((await w.mailsTo(unknown)).length, 0);
    assert.equal((await w.mailsTo(email)).length, 2, 'a verified address gets no new link');
  });

  it('an expired link is refused, and a malformed one gets the same answer', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('expire');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    const token = w.token(await w.mailTo(email), 'verify-email');
    w.clock.advance(24 * 3600 * 1000 + 1000);
    const expired = await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token } });
    assert.equal(expired.status, 400);
    assert.equal(expired.body.code, 'invalid_or_expired_token');
    for (const bad of ['', 'x', 'A'.repeat(43), `${token}x`]) {
      const res = await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: bad } });
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.code, 'invalid_or_expired_token');
    }
  });

  it('two concurrent verifications of one link: exactly one signs in', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('race');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    const token = w.token(await w.mailTo(email), 'verify-email');
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api(w.app, 'POST', '/v1/auth/verify-email', { json: { token } })),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400, 400, 400, 400, 400]);
  });

  it('with verification off, signup still answers 201 with tokens, and the optional link is mailed', async (t) => {
    const w = await accountWorld(t, { EMAIL_VERIFICATION: 'off' });
    const email = uniqueEmail('optional');
    const signup = await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    assert.equal(signup.status, 201);
    const token = w.token(await w.mailTo(email), 'verify-email');
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: signup.body.access_token })).body.email_verified, false);
    assert.equal((await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token } })).status, 200);
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: signup.body.access_token })).body.email_verified, true);
  });
});
