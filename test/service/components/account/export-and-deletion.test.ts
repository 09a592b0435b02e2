import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { accountWorld, verifiedAccount } from '../auth/account-fixture.js';

const count = async (q: { count<T>(c: string): Promise<T> }) => Number(((await q.count<{ count: string }[]>('* as count')) as { count: string }[])[0]?.count);

describe('the account export (GET /v1/me/export)', () => {
  it('holds exactly what the database holds about the user: the account, every session, every conversation with its messages, every audit event', async (t) => {
    const w = await accountWorld(t, { BUILTIN_MODEL_DELAY_MS: '0' });
    const a = await verifiedAccount(w);
    const other = await verifiedAccount(w);
    for (const title of ['first', 'second', null]) {
      const conv = await api(w.app, 'POST', '/v1/conversations', { token: a.access, json: title ? { title } : {} });
      for (const content of ['hello', 'and again']) {
        await api(w.app, 'POST', `/v1/conversations/${conv.body.id}/messages`, { token: a.access, json: { content } });
      }
    }
    await api(w.app, 'POST', '/v1/conversations', { token: other.access, json: { title: 'not yours' } });
    await w.app.deps.audit.log.flush();

    const res = await api(w.app, 'GET', '/v1/me/export', { token: a.access });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="rampart-account-export.json"/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const doc = res.body;
    const knex = w.app.deps.db.knex;

    assert.deepEqual([doc.user.id, doc.user.email, doc.user.email_verified], [a.userId, a.email, true]);
    const sessions = await knex('sessions').where({ user_id: a.userId }).orderBy('created_at', 'desc');
    assert.deepEqual(doc.sessions.map((s: { id: string }) => s.id), sessions.map((s: { id: string }) => s.id));

    const conversations = await knex('conversations').where({ user_id: a.userId }).orderBy([{ column: 'created_at' }, { column: 'id' }]);
    assert.deepEqual(
      doc.conversations.map((c: { id: string; title: string | null }) => [c.id, c.title]),
      conversations.map((c: { id: string; title: string | null }) => [c.id, c.title]),
    );
    for (const c of doc.conversations) {
      const messages = await knex('messages').where({ conversation_id: c.id }).orderBy([{ column: 'created_at' }, { column: 'id' }]);
      assert.deepEqual(
        c.messages.map((m: { id: string; role: string; content: string }) => [m.id, m.role, m.content]),
        messages.map((m: { id: string; role: string; content: string }) => [m.id, m.role, m.content]),
      );
      assert.equal(c.messages.length, 4, 'two questions, two replies');
    }
    assert.ok(!JSON.stringify(doc).includes('not yours'), "another user's data is not in it");

    await w.app.deps.audit.log.flush();
    const events = (await knex('audit_events').where({ user_id: a.userId }).orderBy('id')) as { id: string; type: string }[];
    // The export is audited before the document is read, so it holds its own event too: every event is in it.
    assert.deepEqual(
      doc.audit_events.map((e: { id: string; type: string }) => [e.id, e.type]),
      events.map((e) => [String(e.id), e.type]),
    );
    assert.equal(doc.audit_events.at(-1).type, 'account_exported');
    assert.ok(doc.audit_events.every((e: { email_hash: string | null }) => e.email_hash === null || /^[0-9a-f]{64}$/.test(e.email_hash)));
    assert.ok(!res.text.includes(a.password) && !res.text.includes(a.refresh), 'no secret in the export');
    assert.ok(events.some((e) => e.type === 'account_exported'), 'the export is audited');
  });

  it('streams a long history page by page: many conversations and messages arrive whole and well-formed', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const knex = w.app.deps.db.knex;
    // 450 conversations × 3 messages: more than two pages of conversations (written straight to the tables).
    const conversations = (await knex('conversations')
      .insert(Array.from({ length: 450 }, (_, i) => ({ user_id: a.userId, title: `c${i}` })))
      .returning('id')) as { id: string }[];
    await knex.batchInsert(
      'messages',
      conversations.flatMap(({ id }) => [0, 1, 2].map((n) => ({ conversation_id: id, role: n % 2 ? 'assistant' : 'user', content: `m${n}` }))),
      500,
    );
    const res = await api(w.app, 'GET', '/v1/me/export', { token: a.access });
    assert.equal(res.status, 200);
    assert.equal(res.body.conversations.length, 450);
    assert.equal(res.body.conversations.reduce((n: number, c: { messages: unknown[] }) => n + c.messages.length, 0), 1350);
  });

  it('is limited to 5 exports per user per hour (429 after)', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await api(w.app, 'GET', '/v1/me/export', { token: a.access })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});

describe('deleting the account (DELETE /v1/me)', () => {
  it('leaves no row of the user’s content and no working token on any replica; keeps the audit trail under the former id; mails a confirmation', async (t) => {
    const w = await accountWorld(t, { BUILTIN_MODEL_DELAY_MS: '0' });
    const otherClock = fakeClock();
    const replica = await startTestApp({ database: w.database, clock: otherClock, env: { MAIL_URL: w.smtp.mailUrl, MAIL_CA_FILE: w.smtp.caFile } });
    t.after(() => replica.close());
    const a = await verifiedAccount(w);
    const secondLogin = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password } });
    const conv = await api(w.app, 'POST', '/v1/conversations', { token: a.access, json: { title: 'mine' } });
    await api(w.app, 'POST', `/v1/conversations/${conv.body.id}/messages`, { token: a.access, json: { content: 'hello' } });
    await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    await w.mailTo(a.email, 'Reset your password');
    assert.equal((await api(replica, 'GET', '/v1/me', { token: secondLogin.body.access_token })).status, 200);

    const res = await api(w.app, 'DELETE', '/v1/me', { token: a.access });
    assert.equal(res.status, 204);
    const knex = w.app.deps.db.knex;
    assert.equal(await count(knex('users').where({ id: a.userId })), 0, 'users');
    assert.equal(await count(knex('sessions').where({ user_id: a.userId })), 0, 'sessions');
    assert.equal(await count(knex('account_tokens').where({ user_id: a.userId })), 0, 'account_tokens');
    assert.equal(await count(knex('conversations').where({ user_id: a.userId })), 0, 'conversations');
    assert.equal(await count(knex('messages').where({ conversation_id: conv.body.id })), 0, 'messages');

    assert.equal((await api(w.app, 'GET', '/v1/me', { token: a.access })).status, 401);
    otherClock.advance(1001);
    assert.equal((await api(replica, 'GET', '/v1/me', { token: secondLogin.body.access_token })).status, 401, 'refused on the other replica within 1 s');
    assert.equal((await api(w.app, 'POST', '/v1/auth/refresh', { json: { refresh_token: a.refresh } })).status, 401);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password } })).status, 401);

    await w.mailTo(a.email, 'Your account was deleted');
    await w.app.deps.audit.log.flush();
    const trail = (await knex('audit_events').where({ user_id: a.userId }).orderBy('id')) as { type: string }[];
    assert.ok(trail.length > 3, 'the audit trail is kept');
    // The deletion is the account's last act; only the delivery of its confirmation mail follows it.
    assert.deepEqual(trail.slice(trail.findIndex((e) => e.type === 'account_deleted')).map((e) => e.type), ['account_deleted', 'mail_sent']);
    assert.ok(!JSON.stringify(trail).includes(a.email), 'the address appears only as its keyed hash');
  });
});
