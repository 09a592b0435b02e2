import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

describe('security events (ASVS 16.3.1–16.3.3): every refusal an attacker can cause is in the audit trail, bounded', () => {
  it('refused refresh tokens, refused access tokens and attempts on another user’s session or conversation are audited', async (t) => {
    const app = await startTestApp({ env: { BUILTIN_MODEL_DELAY_MS: '0' } });
    t.after(() => app.close());
    const alice = await signedUpUser(app);
    const mallory = await signedUpUser(app);
    const conversation = await api(app, 'POST', '/v1/conversations', { token: alice.access_token, json: { title: 'private' } });
    const aliceSessions = await api(app, 'GET', '/v1/auth/sessions', { token: alice.access_token });

    const badRefresh = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: 'x'.repeat(43) } });
    assert.equal(badRefresh.status, 401);
    const forged = await api(app, 'GET', '/v1/me', { token: `${alice.access_token.slice(0, -4)}AAAA` });
    assert.equal(forged.status, 401);
    const other = await api(app, 'GET', `/v1/conversations/${conversation.body.id}`, { token: mallory.access_token });
    assert.equal(other.status, 404, 'another user’s conversation answers like a missing one');
    const otherSession = await api(app, 'DELETE', `/v1/auth/sessions/${aliceSessions.body.items[0].id}`, {
      token: mallory.access_token,
    });
    assert.equal(otherSession.status, 404);
    const missing = await api(app, 'GET', '/v1/conversations/3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d', {
      token: mallory.access_token,
    });
    assert.equal(missing.status, 404);
    await api(app, 'POST', '/v1/auth/logout', { json: { refresh_token: alice.refresh_token } });
    const revoked = await api(app, 'GET', '/v1/me', { token: alice.access_token });
    assert.equal(revoked.status, 401);

    await app.deps.audit.log.flush();
    const rows = (await app.deps.db
      .knex('audit_events')
      .whereIn('type', ['refresh_failed', 'access_token_refused', 'foreign_resource_refused'])
      .orderBy('id')) as {
      type: string;
      user_id: string | null;
      request_id: string | null;
      details: Record<string, unknown>;
    }[];
    const find = (type: string, pred: (d: Record<string, unknown>) => boolean) =>
      rows.find((r) => r.type === type && pred(r.details));
    assert.equal(
      find('refresh_failed', (d) => d.reason === 'invalid_refresh_token')?.request_id,
      badRefresh.headers.get('x-request-id'),
    );
    assert.equal(find('access_token_refused', (d) => d.reason === 'invalid')?.request_id, forged.headers.get('x-request-id'));
    assert.ok(
      find('access_token_refused', (d) => d.reason === 'revoked'),
      'a token of an ended session',
    );
    const foreignConversation = find('foreign_resource_refused', (d) => d.resource === 'conversation');
    assert.equal(foreignConversation?.user_id, mallory.user.id);
    assert.equal(foreignConversation?.request_id, other.headers.get('x-request-id'));
    assert.equal(find('foreign_resource_refused', (d) => d.resource === 'session')?.user_id, mallory.user.id);
    assert.equal(
      rows.filter((r) => r.type === 'foreign_resource_refused').length,
      2,
      'a missing conversation is not someone else’s',
    );
  });

  it("records a client's X-Request-Id beside the service's own id, never as the audit row's request id", async (t) => {
    const app = await startTestApp({ env: { BUILTIN_MODEL_DELAY_MS: '0' } });
    t.after(() => app.close());
    const alice = await signedUpUser(app);
    // A client plants an id that looks like one of ours (another request's, to muddle an investigation).
    const planted = 'd3b07384-d113-4ec6-a1b2-c3d4e5f60718';
    const login = await api(app, 'POST', '/v1/auth/login', {
      json: { email: alice.email, password: alice.password },
      headers: { 'x-request-id': planted },
    });
    assert.equal(login.status, 200);
    assert.equal(login.headers.get('x-request-id'), planted, 'the response echoes the client’s id (docs/api.md)');
    const forged = await api(app, 'GET', '/v1/me', {
      token: `${alice.access_token.slice(0, -4)}AAAA`,
      headers: { 'x-request-id': planted },
    });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.request_id, planted);
    await app.deps.audit.log.flush();
    const rows = (await app.deps.db
      .knex('audit_events')
      .whereIn('type', ['login_succeeded', 'access_token_refused'])
      .where({ user_id: alice.user.id })
      .orWhere({ type: 'access_token_refused' })) as {
      type: string;
      request_id: string | null;
      client_request_id: string | null;
    }[];
    for (const type of ['login_succeeded', 'access_token_refused']) {
      const row = rows.find((r) => r.type === type);
      assert.ok(row, type);
      assert.match(
        String(row.request_id),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        `${type}: our own UUID`,
      );
      assert.notEqual(row.request_id, planted, `${type}: the planted id is not the request id`);
      assert.equal(row.client_request_id, planted, `${type}: the client's id is kept beside it`);
    }
    const log = app.logLines.find((l) => l.msg === 'request' && l.route === '/v1/auth/login' && l.client_request_id === planted);
    assert.ok(log, 'the access line carries client_request_id');
    assert.notEqual(log.request_id, planted);
  });

  it('a flood of refused tokens writes a bounded number of rows (aggregated per minute, IP and reason)', async (t) => {
    const app = await startTestApp();
    t.after(() => app.close());
    for (let i = 0; i < 60; i++) await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: `${i}`.padEnd(43, 'z') } });
    await app.deps.audit.log.flush();
    const rows = await app.deps.db.knex('audit_events').where({ type: 'refresh_failed' });
    assert.ok(rows.length <= 2, `${rows.length} rows for 60 refusals`);
  });
});
