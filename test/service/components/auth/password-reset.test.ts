import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { accountWorld, verifiedAccount } from './account-fixture.js';

const NEW_PASSWORD = 'a completely new passphrase 2027';

describe('password reset, against a real SMTP server', () => {
  it('mails a link for an existing account only, with the same 202 for an unknown address', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const unknown = uniqueEmail('nobody');
    const known = await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    const other = await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: unknown } });
    assert.deepEqual([known.status, known.body], [202, { status: 'reset_requested' }]);
    assert.deepEqual([other.status, other.body], [202, { status: 'reset_requested' }]);
    const mail = await w.mailTo(a.email, 'Reset your password');
    assert.match(mail.text, /The link works once, for 30 minutes/);
    assert.equal((await w.mailsTo(unknown)).length, 0);
  });

  it('the confirmation sets the password, revokes every session on every replica within 1 s, and mails a notice; the link works once', async (t) => {
    const w = await accountWorld(t);
    // A second replica on the same database with its own clock (its session guard caches for 1 s).
    const otherClock = fakeClock();
    const replica = await startTestApp({ database: w.database, clock: otherClock, env: { EMAIL_VERIFICATION: 'required', MAIL_URL: w.smtp.mailUrl, MAIL_CA_FILE: w.smtp.caFile } });
    t.after(() => replica.close());
    const a = await verifiedAccount(w);
    assert.equal((await api(replica, 'GET', '/v1/me', { token: a.access })).status, 200, 'the other replica caches the session as active');

    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    const token = w.token(await w.mailTo(a.email, 'Reset your password'), 'reset-password');
    const weak = await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: 'password1234' } });
    assert.equal(weak.status, 400);
    assert.equal(weak.body.code, 'weak_password', 'a weak password is refused without spending the token');

    const done = await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: NEW_PASSWORD } });
    assert.equal(done.status, 204);
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: a.access })).status, 401, 'refused at once on the replica that reset');
    otherClock.advance(1001);
    assert.equal((await api(replica, 'GET', '/v1/me', { token: a.access })).status, 401, 'refused on the other replica within the 1 s bound');
    assert.equal((await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: a.refresh } })).status, 401);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: TEST_PASSWORD } })).status, 401);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: NEW_PASSWORD } })).status, 200);
    await w.mailTo(a.email, 'Your password was changed');

    const replayed = await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: 'yet another passphrase 2028' } });
    assert.equal(replayed.status, 400);
    assert.equal(replayed.body.code, 'invalid_or_expired_token');
    assert.ok(!w.app.logText().includes(token) && !replayed.text.includes(token), 'the token is never logged or echoed');
  });

  it('a newer link supersedes the older; a password change invalidates them all; an expired one is refused', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    await w.mailTo(a.email, 'Reset your password');
    const mails = (await w.mailsTo(a.email)).filter((m) => m.subject === 'Reset your password');
    assert.equal(mails.length, 2);
    const [first, second] = mails.map((m) => w.token(m, 'reset-password')) as [string, string];
    const confirm = (token: string, password = NEW_PASSWORD) => api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: password } });
    assert.equal((await confirm(first)).body.code, 'invalid_or_expired_token', 'superseded');

    const changed = await api(w.app, 'POST', '/v1/auth/password', { token: a.access, json: { current_password: TEST_PASSWORD, new_password: NEW_PASSWORD } });
    assert.equal(changed.status, 200);
    assert.equal((await confirm(second, 'and one more passphrase 99')).body.code, 'invalid_or_expired_token', 'invalidated by the password change');

    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    const third = w.token((await w.mailsTo(a.email)).filter((m) => m.subject === 'Reset your password').at(-1) as never, 'reset-password');
    w.clock.advance(30 * 60 * 1000 + 1000);
    assert.equal((await confirm(third, 'and one more passphrase 99')).body.code, 'invalid_or_expired_token', 'expired');
  });

  it('concurrent requests leave exactly one live link: each newer one supersedes the rest', async (t) => {
    const w = await accountWorld(t, { RATE_LIMIT_MAIL_PER_HOUR: '20' });
    const a = await verifiedAccount(w);
    await Promise.all(Array.from({ length: 5 }, () => api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } })));
    await w.app.deps.auth.settled();
    const live = await w.app.deps.db.knex('account_tokens').where({ user_id: a.userId, purpose: 'reset_password' }).whereNull('consumed_at').whereNull('invalidated_at');
    assert.equal(live.length, 1);
  });

  it('two concurrent confirmations of one link: exactly one sets the password', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    const token = w.token(await w.mailTo(a.email, 'Reset your password'), 'reset-password');
    const passwords = ['first racing passphrase 111', 'second racing passphrase 222', 'third racing passphrase 333', 'fourth racing passphrase 444'];
    const answers = await Promise.all(passwords.map((p) => api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: p } })));
    assert.deepEqual(answers.map((r) => r.status).sort(), [204, 400, 400, 400]);
    const winner = passwords[answers.findIndex((r) => r.status === 204)] as string;
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: winner } })).status, 200);
  });

  it('a reset proves the address: an account never verified becomes verified', async (t) => {
    const w = await accountWorld(t);
    const email = uniqueEmail('squat');
    await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: 'someone else typed this 42' } });
    await w.mailTo(email, 'Confirm your email address');
    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email } });
    const token = w.token(await w.mailTo(email, 'Reset your password'), 'reset-password');
    assert.equal((await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token, new_password: NEW_PASSWORD } })).status, 204);
    const login = await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: NEW_PASSWORD } });
    assert.equal(login.status, 200, 'the owner of the mailbox has the account');
  });
});
