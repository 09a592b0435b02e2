/**
 * Injection strings in every parameter a user controls (ASVS 5.0 1.2.3, 1.2.4): beyond "no 5xx", each
 * one is either stored and returned byte for byte (it reached PostgreSQL as a bound value) or refused
 * as malformed, no other user's data shows up, and every table is as it was. And a body cannot set a
 * field its route does not take (mass assignment, ASVS 8.2.3, 15.3.3).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { type SignedUpUser, signedUpUser } from '../../../helpers/users.js';

const PAYLOADS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  "'; DROP TABLE conversations; --",
  '"; DROP TABLE users; --',
  "') UNION SELECT id, email, password_hash, created_at FROM users --",
  "1' AND pg_sleep(3) IS NULL --",
  "\\'; DELETE FROM messages; --",
  '$$; TRUNCATE audit_events; $$',
  "%' OR title LIKE '%",
  "admin'/*",
  '{"$gt": ""}',
];

describe('injection strings in every parameter', () => {
  let t: InProcessTestApp;
  let victim: SignedUpUser;
  let attacker: SignedUpUser;
  let victimConversation: { id: string; title: string };
  before(async () => {
    // Wrong passwords on purpose: no lockout may stand in for the answer being checked.
    t = await startTestApp({ env: { LOGIN_MAX_FAILURES: '1000', LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: '100' } });
    victim = await signedUpUser(t, { tag: 'victim' });
    attacker = await signedUpUser(t, { tag: 'attacker' });
    victimConversation = (
      await api(t, 'POST', '/v1/conversations', { token: victim.access_token, json: { title: 'private plans' } })
    ).body;
    assert.equal(
      (
        await api(t, 'POST', `/v1/conversations/${victimConversation.id}/messages`, {
          token: victim.access_token,
          json: { content: 'my secret' },
        })
      ).status,
      201,
    );
  });
  after(() => t.close());

  async function snapshot() {
    const { knex } = t.deps.db;
    const counts = { users: 0, conversations: 0, messages: 0, sessions: 0, refresh_tokens: 0 };
    for (const table of Object.keys(counts) as (keyof typeof counts)[]) {
      counts[table] = Number((await knex(table).count({ n: '*' }))[0]?.n);
    }
    return counts;
  }

  it('SQL injection strings in every parameter are stored verbatim or refused, and the tables stay intact', async () => {
    const token = attacker.access_token;
    const before = await snapshot();
    const refusedOrMissing = (status: number, what: string) =>
      assert.ok(status === 400 || status === 404, `${what} answered ${status}`);
    let created = 0;
    for (const payload of PAYLOADS) {
      // Body values are bound parameters: stored and returned exactly.
      const conversation = await api(t, 'POST', '/v1/conversations', { token, json: { title: payload } });
      assert.equal(conversation.status, 201, payload);
      assert.equal(conversation.body.title, payload);
      created += 1;
      const read = await api(t, 'GET', `/v1/conversations/${conversation.body.id}`, { token });
      assert.equal(read.body.title, payload);
      const message = await api(t, 'POST', `/v1/conversations/${conversation.body.id}/messages`, {
        token,
        json: { content: payload },
      });
      assert.equal(message.status, 201, payload);
      assert.equal(message.body.message.content, payload);
      const listed = await api(t, 'GET', `/v1/conversations/${conversation.body.id}/messages`, { token });
      assert.equal(listed.body.items[0].content, payload);

      // Path and query parameters: malformed, so refused, never run.
      const inPath = encodeURIComponent(payload);
      refusedOrMissing((await api(t, 'GET', `/v1/conversations/${inPath}`, { token })).status, `GET conversation ${payload}`);
      refusedOrMissing(
        (await api(t, 'DELETE', `/v1/conversations/${inPath}`, { token })).status,
        `DELETE conversation ${payload}`,
      );
      refusedOrMissing(
        (await api(t, 'GET', `/v1/conversations/${inPath}/messages`, { token })).status,
        `GET messages ${payload}`,
      );
      refusedOrMissing(
        (await api(t, 'POST', `/v1/conversations/${inPath}/messages`, { token, json: { content: 'x' } })).status,
        `POST message ${payload}`,
      );
      refusedOrMissing(
        (await api(t, 'GET', `/v1/conversations/${victimConversation.id}/messages/${inPath}/events`, { token })).status,
        `events ${payload}`,
      );
      refusedOrMissing((await api(t, 'DELETE', `/v1/auth/sessions/${inPath}`, { token })).status, `DELETE session ${payload}`);
      for (const query of [`cursor=${inPath}`, `limit=${inPath}`]) {
        assert.equal((await api(t, 'GET', `/v1/conversations?${query}`, { token })).status, 400, query);
        assert.equal(
          (await api(t, 'GET', `/v1/conversations/${conversation.body.id}/messages?${query}`, { token })).status,
          400,
          query,
        );
      }

      // Credentials: an injected address or password never signs anyone in.
      for (const [email, password] of [
        [`${victim.email}${payload}`, 'whatever it is'],
        [payload, payload],
        [victim.email, payload],
      ]) {
        const login = await api(t, 'POST', '/v1/auth/login', { json: { email, password } });
        assert.ok(login.status === 400 || login.status === 401, `login ${email} / ${password}: ${login.status}`);
        assert.equal(login.body.access_token, undefined);
      }
      assert.equal((await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: payload } })).status, 401);
      // The reset answers every address alike (no enumeration): 202, and the address is dropped afterwards.
      assert.equal((await api(t, 'POST', '/v1/auth/password-reset', { json: { email: payload } })).status, 202);
    }

    // Nothing else changed: the attacker's rows were added, nobody's were touched or revealed.
    const after = await snapshot();
    assert.equal(after.users, before.users);
    assert.equal(after.conversations, before.conversations + created);
    assert.ok(after.messages >= before.messages + 2 * created);
    const mine = await api(t, 'GET', '/v1/conversations?limit=100', { token });
    assert.equal(mine.body.items.length, created, 'only the attacker’s own conversations are listed');
    const theirs = await api(t, 'GET', '/v1/conversations', { token: victim.access_token });
    assert.deepEqual(
      theirs.body.items.map((c: { id: string; title: string }) => [c.id, c.title]),
      [[victimConversation.id, 'private plans']],
    );
    const messages = await api(t, 'GET', `/v1/conversations/${victimConversation.id}/messages`, { token: victim.access_token });
    assert.equal(messages.body.items[0].content, 'my secret');
    assert.equal(
      (await api(t, 'POST', '/v1/auth/login', { json: { email: victim.email, password: victim.password } })).status,
      200,
    );
  });

  it('a body cannot set fields the route does not take (mass assignment)', async () => {
    const token = attacker.access_token;
    const before = await snapshot();
    const chosenId = randomUUID();
    for (const extra of [
      { id: chosenId },
      { user_id: victim.user.id },
      { created_at: '2000-01-01T00:00:00Z' },
      { updated_at: '2099-01-01T00:00:00Z' },
    ]) {
      const res = await api(t, 'POST', '/v1/conversations', { token, json: { title: 'mine', ...extra } });
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.equal(res.body.code, 'validation_failed');
    }
    const own = (await api(t, 'POST', '/v1/conversations', { token, json: { title: 'mine' } })).body;
    for (const extra of [
      { role: 'assistant' },
      { status: 'complete' },
      { conversation_id: victimConversation.id },
      { user_id: victim.user.id },
    ]) {
      const res = await api(t, 'POST', `/v1/conversations/${own.id}/messages`, { token, json: { content: 'hello', ...extra } });
      assert.equal(res.status, 400, JSON.stringify(extra));
    }
    for (const extra of [{ email_verified: true }, { id: chosenId }, { mfa: { totp: true } }, { disabled: false }]) {
      const res = await api(t, 'POST', '/v1/auth/signup', {
        json: { email: `extra${randomUUID()}@example.com`, password: 'correct horse battery staple 42', ...extra },
      });
      assert.equal(res.status, 400, JSON.stringify(extra));
    }
    const after = await snapshot();
    assert.deepEqual(
      { ...after, conversations: after.conversations - 1 },
      before,
      'only the one well-formed conversation was added',
    );
    assert.equal(await t.deps.db.knex('conversations').where({ id: chosenId }).first(), undefined);
    const victims = await api(t, 'GET', '/v1/conversations', { token: victim.access_token });
    assert.equal(victims.body.items.length, 1);
  });
});
