import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { streamMessage } from '../../helpers/sse.js';
import { TEST_PASSWORD } from '../../helpers/users.js';

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
    const lines = t.logLines.filter((l) => l.request_id === 'run-signup');
    const messages = lines.map((l) => l.msg);
    assert.ok(messages.includes('request'), 'the access line');
    assert.ok(messages.includes('audit: signup_succeeded'), 'the audit line written deep in the flow');
  });

  it('adds the user id to lines of authenticated requests', () => {
    const me = t.logLines.find((l) => l.msg === 'request' && l.route === '/v1/me');
    assert.match(String(me?.user_id), /^[0-9a-f-]{36}$/);
  });
});
