import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { streamMessage } from '../../helpers/sse.js';
import { TEST_PASSWORD, uniqueEmail } from '../../helpers/users.js';
import { tokenFromMail } from '../../helpers/smtp-server.js';
import { type AccountWorld, accountWorld, APP_URL } from '../components/auth/account-fixture.js';

describe('logs during a full signup → login → refresh → chat → logout run', () => {
  // Listens: the scripted run streams a reply as text/event-stream, which needs a socket.
  let t: TestApp;
  const password = TEST_PASSWORD;
  const secrets: Record<string, string> = {};
  before(async () => {
    t = await startTestApp({ listen: true, env: { BUILTIN_MODEL_DELAY_MS: '0', LOG_LEVEL: 'debug' } });
    const email = 'logs@example.com';
    const signup = await api(t.baseUrl, 'POST', '/v1/auth/signup', { json: { email, password }, headers: { 'x-request-id': 'run-signup' } });
    await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email, password: 'a wrong password guess' } });
    const login = await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email, password } });
    const refreshed = await api(t.baseUrl, 'POST', '/v1/auth/refresh', { json: { refresh_token: login.body.refresh_token } });
    const token = refreshed.body.access_token;
    const conv = await api(t.baseUrl, 'POST', '/v1/conversations', { token, json: {} });
    await api(t.baseUrl, 'POST', `/v1/conversations/${conv.body.id}/messages`, { token, json: { content: 'hi' } });
    await streamMessage(t.baseUrl, conv.body.id, { token, content: 'stream' });
    await api(t.baseUrl, 'GET', '/v1/me', { headers: { authorization: `Bearer ${signup.body.access_token}`, cookie: 'session=abc' } });
    await api(t.baseUrl, 'POST', '/v1/auth/password', { token, json: { current_password: password, new_password: 'another fine passphrase 2027' } });
    await api(t.baseUrl, 'POST', '/v1/auth/logout', { json: { refresh_token: refreshed.body.refresh_token } });
    await t.deps.audit.log.flush();
    Object.assign(secrets, {
      password,
      'new password': 'another fine passphrase 2027',
      'wrong password': 'a wrong password guess',
      'signup access token': signup.body.access_token,
      'signup refresh token': signup.body.refresh_token,
      'login refresh token': login.body.refresh_token,
      'refreshed access token': token,
      'refreshed refresh token': refreshed.body.refresh_token,
      'JWT secret': TEST_JWT_SECRET,
      'JWT secret (base64)': Buffer.from(TEST_JWT_SECRET, 'base64url').toString('base64'),
    });
  });
  after(() => t.close());

  it('never writes a password, token or the JWT secret', () => {
    const text = t.logText();
    assert.ok(t.logLines.length >= 15, `the run was logged (${t.logLines.length} lines)`);
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(!text.includes(value), `${what} appears in the logs`);
      // Also not a recognisable piece of it (a token's signature part, say).
      assert.ok(!text.includes(value.slice(-24)), `the tail of the ${what} appears in the logs`);
    }
  });

  it('stamps every line written while serving a request with its request id', () => {
    const lines = t.logLines.filter((l) => l.client_request_id === 'run-signup');
    const messages = lines.map((l) => l.msg);
    assert.equal(new Set(lines.map((l) => l.request_id)).size, 1, 'one request id of ours on every line of the request');
    assert.match(String(lines[0]?.request_id), /^[0-9a-f-]{36}$/);
    assert.ok(messages.includes('request'), 'the access line');
    assert.ok(messages.includes('audit: signup_succeeded'), 'the audit line written deep in the flow');
  });

  it('adds the user id to lines of authenticated requests', () => {
    const me = t.logLines.find((l) => l.msg === 'request' && l.route === '/v1/me');
    assert.match(String(me?.user_id), /^[0-9a-f-]{36}$/);
  });
});

describe('logs during an accounts run against a real SMTP server: signup with verification → verify → resend → reset → email change → step-up → export → deletion', () => {
  let w: AccountWorld;
  const auditHashKey = randomBytes(32).toString('base64url');
  const secrets: Record<string, string> = {};
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  before(async () => {
    // MAIL_URL (with the SMTP user's password) and MAIL_CA_FILE point at the test SMTP server: every mail is really sent.
    w = await accountWorld({ after: (fn: () => unknown) => void cleanups.push(fn) }, { LOG_LEVEL: 'debug', AUDIT_HASH_KEY: auditHashKey });
    const ok = (res: { status: number; text: string }, status: number, what: string) => {
      assert.equal(res.status, status, `${what}: ${res.text}`);
      return res as typeof res & { body: any };
    };
    const email = uniqueEmail('logs-accounts');
    const passwords = {
      first: TEST_PASSWORD,
      'second signup': 'someone else tries this phrase 31',
      'wrong login': 'a wrong password guess for logs 7',
      'weak reset': 'password1234',
      reset: 'the phrase chosen at reset 2031',
      'wrong reauthentication': 'not the password at reauth 88',
      changed: 'and the one after the change 2032',
    };
    const tokens: Record<string, string> = {};

    // Signup with EMAIL_VERIFICATION=required, for a new address and again for the taken one.
    ok(await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: passwords.first }, headers: { 'x-request-id': 'acct-signup' } }), 202, 'signup');
    ok(await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: passwords['second signup'] } }), 202, 'signup (taken)');
    tokens['first verification'] = w.token(await w.mailTo(email, 'Confirm your email address'), 'verify-email');
    await w.mailTo(email, 'You already have an account');
    // A resend supersedes the first link, which is then refused.
    ok(await api(w.app, 'POST', '/v1/auth/verify-email/resend', { json: { email } }), 202, 'resend');
    const links = (await w.mailsTo(email)).filter((m) => m.subject === 'Confirm your email address');
    tokens['resent verification'] = w.token(links.at(-1) as (typeof links)[number], 'verify-email');
    ok(await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: tokens['first verification'] } }), 400, 'superseded link');
    const verified = ok(await api(w.app, 'POST', '/v1/auth/verify-email', { json: { token: tokens['resent verification'] } }), 200, 'verify');
    ok(await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: passwords['wrong login'] } }), 401, 'wrong login');
    const login = ok(await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: passwords.first } }), 200, 'login');

    // Password reset: request, a weak password refused, the confirmation, the notice.
    ok(await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email } }), 202, 'reset request');
    tokens.reset = w.token(await w.mailTo(email, 'Reset your password'), 'reset-password');
    ok(await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token: tokens.reset, new_password: passwords['weak reset'] } }), 400, 'weak reset');
    ok(await api(w.app, 'POST', '/v1/auth/password-reset/confirm', { json: { token: tokens.reset, new_password: passwords.reset } }), 204, 'reset');
    await w.mailTo(email, 'Your password was changed');
    const afterReset = ok(await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: passwords.reset } }), 200, 'login after reset');

    // Email change (recent authentication) and its confirmation.
    const newEmail = uniqueEmail('logs-moved');
    ok(await api(w.app, 'POST', '/v1/auth/email', { json: { new_email: newEmail }, token: afterReset.body.access_token }), 202, 'email change');
    tokens['email change'] = w.token(await w.mailTo(newEmail, 'Confirm your new email address'), 'confirm-email');
    await w.mailTo(email, 'A change of your email address was requested');
    ok(await api(w.app, 'POST', '/v1/auth/email/confirm', { json: { token: tokens['email change'] } }), 204, 'email confirm');

    // A reset link whose mail the server refuses at first (read from the outbox): the failure is
    // logged, the retry after the backoff delivers it.
    ok(await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: newEmail } }), 202, 'second reset request');
    await w.app.deps.auth.settled();
    const queued = await w.app.deps.db.knex('mail_outbox').where({ to_address: newEmail, status: 'pending' }).orderBy('id', 'desc').first('text_body');
    tokens['refused reset'] = tokenFromMail({ text: String(queued?.text_body) }, `${APP_URL}/reset-password`);
    w.smtp.refuse(451, 'DATA');
    await w.app.deps.mail.sender.deliverDue();
    w.smtp.refuse(null);
    w.clock.advance(10 * 60 * 1000);
    assert.equal(w.token(await w.mailTo(newEmail, 'Reset your password'), 'reset-password'), tokens['refused reset']);

    // Step-up: a refreshed token is not recent once the window passed; a wrong password, then the right one.
    w.clock.advance(3600 * 1000);
    const refreshed = ok(await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: afterReset.body.refresh_token } }), 200, 'refresh');
    ok(await api(w.app, 'GET', '/v1/me/export', { token: refreshed.body.access_token }), 401, 'export without step-up');
    ok(await api(w.app, 'POST', '/v1/auth/reauthenticate', { json: { password: passwords['wrong reauthentication'] }, token: refreshed.body.access_token }), 401, 'wrong reauthentication');
    const reauthenticated = ok(await api(w.app, 'POST', '/v1/auth/reauthenticate', { json: { password: passwords.reset }, token: refreshed.body.access_token }), 200, 'reauthenticate');
    const changed = ok(
      await api(w.app, 'POST', '/v1/auth/password', { json: { current_password: passwords.reset, new_password: passwords.changed }, token: reauthenticated.body.access_token }),
      200,
      'password change',
    );
    ok(await api(w.app, 'GET', '/v1/me/export', { token: changed.body.access_token, headers: { 'x-request-id': 'acct-export' } }), 200, 'export');
    ok(await api(w.app, 'DELETE', '/v1/me', { token: changed.body.access_token, headers: { 'x-request-id': 'acct-delete' } }), 204, 'delete');
    await w.mailTo(newEmail, 'Your account was deleted');
    await w.app.deps.audit.log.flush();

    Object.assign(secrets, Object.fromEntries(Object.entries(passwords).map(([k, v]) => [`${k} password`, v])));
    Object.assign(secrets, Object.fromEntries(Object.entries(tokens).map(([k, v]) => [`${k} token`, v])));
    const pairs = { verified, login, 'login after reset': afterReset, refreshed, reauthenticated, 'password change': changed };
    for (const [k, res] of Object.entries(pairs)) {
      secrets[`${k} access token`] = res.body.access_token;
      secrets[`${k} refresh token`] = res.body.refresh_token;
    }
    Object.assign(secrets, {
      'SMTP password': w.smtp.password,
      'SMTP password (in MAIL_URL)': encodeURIComponent(w.smtp.password),
      MAIL_URL: w.smtp.mailUrl,
      AUDIT_HASH_KEY: auditHashKey,
      'JWT secret': TEST_JWT_SECRET,
      'JWT secret (base64)': Buffer.from(TEST_JWT_SECRET, 'base64url').toString('base64'),
    });
  });

  it('never writes a password, a one-time token, an access or refresh token, the SMTP password, the audit hash key or the JWT secret', () => {
    const text = w.app.logText();
    assert.ok(w.app.logLines.length >= 40, `the run was logged (${w.app.logLines.length} lines)`);
    assert.ok(Object.keys(secrets).length >= 25, 'every secret of the run was collected');
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 12, `${what} is long enough to search for`);
      assert.ok(!text.includes(value), `${what} appears in the logs`);
      // Also not a recognisable piece of it (a token's signature part, say).
      assert.ok(!text.includes(value.slice(-24)), `the tail of the ${what} appears in the logs`);
    }
  });

  it('logged every flow of the run (so the check above looked at them)', () => {
    const messages = new Set(w.app.logLines.map((l) => String(l.msg)));
    for (const event of ['email_verified', 'password_reset_completed', 'email_changed', 'reauthenticated', 'password_changed', 'account_exported', 'account_deleted']) {
      assert.ok(messages.has(`audit: ${event}`), `the audit line of ${event}`);
    }
    assert.ok(messages.has('mail send failed; will retry'), 'the refused delivery was logged');
    assert.ok(w.app.logLines.some((l) => (l.audit as { type?: string } | undefined)?.type === 'mail_sent'), 'and the deliveries');
    const routes = new Set(w.app.logLines.filter((l) => l.msg === 'request').map((l) => `${l.method} ${l.route}`));
    for (const route of [
      'POST /v1/auth/signup',
      'POST /v1/auth/verify-email',
      'POST /v1/auth/verify-email/resend',
      'POST /v1/auth/password-reset',
      'POST /v1/auth/password-reset/confirm',
      'POST /v1/auth/email',
      'POST /v1/auth/email/confirm',
      'POST /v1/auth/reauthenticate',
      'GET /v1/me/export',
      'DELETE /v1/me',
    ]) {
      assert.ok(routes.has(route), `the access line of ${route}`);
    }
  });
});
