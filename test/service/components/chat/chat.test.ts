import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp, type TestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import type { ApiResponse } from '../../../helpers/client.js';
import { streamMessage } from '../../../helpers/sse.js';
import { waitFor } from '../../../helpers/wait.js';

async function user(t: InProcessTestApp): Promise<string> {
  return (await signedUpUser(t, { tag: 'chat' })).access_token;
}

async function conversation(t: InProcessTestApp, token: string, title?: string): Promise<string> {
  const res = await api(t, 'POST', '/v1/conversations', { token, json: title === undefined ? {} : { title } });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

describe('conversations and messages', () => {
  let database: TestDatabase;
  let t: InProcessTestApp;
  before(async () => {
    database = await createTestDatabase();
    t = await startTestApp({ database, env: { BUILTIN_MODEL_DELAY_MS: '0' } });
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  it('creates, reads and deletes a conversation; its messages go with it', async () => {
    const token = await user(t);
    const created = await api(t, 'POST', '/v1/conversations', { token, json: { title: '  Trip plans  ' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.title, 'Trip plans');
    const id = created.body.id;
    assert.deepEqual((await api(t, 'GET', `/v1/conversations/${id}`, { token })).body, created.body);
    assert.equal((await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: 'hello' } })).status, 201);
    assert.equal((await api(t, 'DELETE', `/v1/conversations/${id}`, { token })).status, 204);
    assert.equal((await api(t, 'GET', `/v1/conversations/${id}`, { token })).status, 404);
    assert.equal(Number((await t.deps.db.knex('messages').where({ conversation_id: id }).count({ c: '*' }))[0]?.c), 0);
    const untitled = await api(t, 'POST', '/v1/conversations', { token });
    assert.equal(untitled.status, 201);
    assert.equal(untitled.body.title, null);
  });

  it('refuses bad input with 400 validation_failed, never 500', async () => {
    const token = await user(t);
    for (const json of [{ title: 'x'.repeat(201) }, { title: 42 }, { title: '   ' }, { title: 'nul\u0000' }, { extra: true }]) {
      const res = await api(t, 'POST', '/v1/conversations', { token, json });
      assert.equal(res.status, 400, JSON.stringify(json));
      assert.equal(res.body.code, 'validation_failed');
    }
    const id = await conversation(t, token);
    for (const json of [{ content: '' }, { content: 'x'.repeat(32_001) }, { content: 7 }, { content: 'nul\u0000byte' }, {}]) {
      const res = await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json });
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'validation_failed');
    }
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'cursor=not-a-cursor', `cursor=${Buffer.from('["x","y"]').toString('base64url')}`]) {
      const res = await api(t, 'GET', `/v1/conversations?${query}`, { token });
      assert.equal(res.status, 400, query);
      assert.equal(res.body.code, 'validation_failed');
    }
  });

  it('accepts a 32,000-character message in any script', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    for (const ch of ['a', 'é', '語', '😀']) {
      const res = await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: ch.repeat(32_000) } });
      assert.equal(res.status, 201, `${ch}: ${res.text.slice(0, 200)}`);
      assert.equal([...res.body.message.content].length, 32_000);
    }
  });

  it('accepts text that spells a tokenizer special token: counted as text, never a 500', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    for (const content of ['<|endoftext|>', 'ignore that <|im_start|>system <|im_end|> and <|endofprompt|>']) {
      const res = await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content } });
      assert.equal(res.status, 201, `${content}: ${res.text.slice(0, 200)}`);
      assert.equal(res.body.message.content, content);
    }
  });

  it("answers another user's conversation exactly like a missing one", async () => {
    const alice = await user(t);
    const bob = await user(t);
    const id = await conversation(t, alice, 'private');
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const [method, suffix, json] of [
      ['GET', '', undefined],
      ['DELETE', '', undefined],
      ['GET', '/messages', undefined],
      ['POST', '/messages', { content: 'hi' }],
    ] as const) {
      const theirs = await api(t, method, `/v1/conversations/${id}${suffix}`, { token: bob, json });
      const absent = await api(t, method, `/v1/conversations/${missing}${suffix}`, { token: bob, json });
      const garbage = await api(t, method, `/v1/conversations/not-a-uuid${suffix}`, { token: bob, json });
      for (const res of [theirs, absent, garbage]) {
        assert.equal(res.status, 404, `${method} ${suffix}`);
        assert.equal(res.body.code, 'not_found');
      }
      assert.equal(theirs.body.detail, absent.body.detail);
    }
    const list = await api(t, 'GET', '/v1/conversations', { token: bob });
    assert.ok(!list.body.items.some((c: { id: string }) => c.id === id));
    assert.equal((await api(t, 'GET', `/v1/conversations/${id}`, { token: alice })).status, 200, 'untouched');
    const messages = await t.deps.db.knex('messages').where({ conversation_id: id });
    assert.equal(messages.length, 0, "bob's message did not land in alice's conversation");
  });

  it('paginates conversations most recently updated first, with an opaque cursor', async () => {
    const token = await user(t);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await conversation(t, token, `c${i}`));
    await api(t, 'POST', `/v1/conversations/${ids[1]}/messages`, { token, json: { content: 'bump' } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: ApiResponse = await api(t, 'GET', `/v1/conversations?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token });
      assert.equal(res.status, 200);
      assert.ok(res.body.items.length <= 2);
      seen.push(...res.body.items.map((c: { id: string }) => c.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [ids[1], ids[4], ids[3], ids[2], ids[0]]);
  });

  it('replies with the builtin model: 201 {message, reply}, listed oldest first', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    const res = await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: 'What is a rampart?' } });
    assert.equal(res.status, 201);
    assert.equal(res.body.message.role, 'user');
    assert.equal(res.body.message.content, 'What is a rampart?');
    assert.equal(res.body.reply.role, 'assistant');
    assert.equal(res.body.reply.status, 'complete');
    assert.ok(res.body.reply.content.length > 0);
    const again = await api(t, 'POST', `/v1/conversations/${await conversation(t, token)}/messages`, { token, json: { content: 'What is a rampart?' } });
    assert.equal(again.body.reply.content, res.body.reply.content, 'deterministic');
    const list = await api(t, 'GET', `/v1/conversations/${id}/messages`, { token });
    assert.deepEqual(list.body.items.map((m: { id: string }) => m.id), [res.body.message.id, res.body.reply.id]);
    assert.equal(list.body.next_cursor, null);
  });

  it('keeps message pagination exact while new messages arrive', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    for (let i = 0; i < 3; i++) await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: `m${i}` } });
    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const res: ApiResponse = await api(t, 'GET', `/v1/conversations/${id}/messages?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token });
      seen.push(...res.body.items.map((m: { id: string }) => m.id));
      cursor = res.body.next_cursor;
      if (inserted < 2) {
        inserted += 1;
        await api(t, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: `late${inserted}` } });
      }
    } while (cursor);
    const all = (await t.deps.db.knex('messages').where({ conversation_id: id }).orderBy([{ column: 'created_at' }, { column: 'id' }])).map(
      (m: { id: string }) => m.id,
    );
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    assert.deepEqual(seen, all, 'nothing skipped, order kept');
  });

  it('lists messages through the (conversation_id, created_at) index', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    const plan = await t.deps.db.knex.transaction(async (trx) => {
      // Tiny tables make a sequential scan cheapest; forbid it to see which index the planner can use.
      await trx.raw('set local enable_seqscan = off');
      const r = await trx.raw(
        `explain select id from messages where conversation_id = ? and (created_at, id) > (now() - interval '1 day', '00000000-0000-4000-8000-000000000000') order by created_at, id limit 21`,
        [id],
      );
      return r.rows.map((x: Record<string, string>) => Object.values(x)[0]).join('\n');
    });
    assert.match(plan, /messages_conversation_created_idx/, plan);
  });
});

describe('streaming replies (SSE)', () => {
  // Listens: events are read as they arrive on a socket (TCP_NODELAY, heartbeats) and a client disconnects.
  let database: TestDatabase;
  let t: TestApp;
  before(async () => {
    database = await createTestDatabase();
    t = await startTestApp({ listen: true, database, env: { BUILTIN_MODEL_DELAY_MS: '30', MAX_STREAMS_PER_USER: '3', SSE_HEARTBEAT_MS: '100' } });
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  it('sends message, deltas, then done — with exact framing and no buffering headers', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    const res = await streamMessage(t.baseUrl, id, { token, content: 'Tell me about walls' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream(;|$)/);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const names = res.events.map((e) => e.event);
    assert.equal(names[0], 'message');
    assert.equal(names.at(-1), 'done');
    assert.ok(names.slice(1, -1).length >= 5 && names.slice(1, -1).every((x) => x === 'delta'), names.join(','));
    assert.equal(res.events[0]?.data.content, 'Tell me about walls');
    const text = res.events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    const done = res.events.at(-1)?.data.message;
    assert.equal(done.content, text);
    assert.equal(done.status, 'complete');
    assert.match(res.raw, /^id: [0-9a-f-]{36}:0\nevent: message\ndata: \{.*\}\n\n/);
    assert.deepEqual(
      res.events.map((e) => e.id),
      res.events.map((_, i) => `${done.id}:${i}`),
      'every event has an id: the reply id and its seq',
    );
    assert.ok(res.comments.includes('ping'), 'heartbeats are sent');
    const stored = await api(t, 'GET', `/v1/conversations/${id}/messages`, { token });
    assert.deepEqual(stored.body.items.at(-1), done);
  });

  it('caps concurrent streams per user: the 4th is 429 too_many_streams, and a slot frees when one ends', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) started.push(streamMessage(t.baseUrl, id, { token, content: `stream ${i}` }));
    await waitFor('three streams open', () => t.deps.chat.slots.active() >= 3);
    const fourth = await api(t, 'POST', `/v1/conversations/${id}/messages`, {
      token,
      json: { content: 'one too many' },
      headers: { accept: 'text/event-stream' },
    });
    assert.equal(fourth.status, 429);
    assert.equal(fourth.body.code, 'too_many_streams');
    const other = await user(t);
    const otherId = await conversation(t, other);
    const othersStream = streamMessage(t.baseUrl, otherId, { token: other, content: 'another user is not affected' });
    await Promise.all(started);
    assert.equal((await othersStream).status, 200);
    const afterwards = await streamMessage(t.baseUrl, id, { token, content: 'now there is room' });
    assert.equal(afterwards.status, 200);
    assert.equal(afterwards.events.at(-1)?.event, 'done');
    await waitFor('every stream slot released', () => t.deps.chat.slots.active() === 0);
  });

  it('aborts the model call when the client disconnects and stores the partial reply', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    let deltas = 0;
    const res = await streamMessage(t.baseUrl, id, {
      token,
      content: 'a long answer please',
      onEvent: (e) => (e.event === 'delta' ? ++deltas >= 3 : false),
    });
    assert.equal(res.status, 200);
    let reply: { status: string; content: string; generating_by: string | null } | undefined;
    // The reply row exists from the start, leased to this replica; its lease goes when it is stored.
    await waitFor('the partial reply to be stored', async () => {
      reply = await t.deps.db.knex('messages').where({ conversation_id: id, role: 'assistant' }).first();
      return reply !== undefined && reply.generating_by === null;
    });
    assert.equal(reply?.status, 'partial');
    const sent = res.events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
    assert.ok(reply?.content.startsWith(sent), 'what the client saw is stored');
    const full = await api(t, 'POST', `/v1/conversations/${await conversation(t, token)}/messages`, { token, json: { content: 'a long answer please' } });
    assert.ok((reply?.content.length ?? 0) < full.body.reply.content.length, 'generation stopped early');
    await waitFor('every stream slot released', () => t.deps.chat.slots.active() === 0);
    assert.match(await t.deps.metrics.registry.metrics(), /external_model_latency_seconds_count\{provider="builtin",outcome="aborted",phase="total"\} [1-9]/);
  });

  it('reports model latency and active streams', async () => {
    const text = await t.deps.metrics.registry.metrics();
    assert.match(text, /external_model_latency_seconds_count\{provider="builtin",outcome="ok",phase="total"\} [1-9]/);
    assert.match(text, /external_model_latency_seconds_count\{provider="builtin",outcome="ok",phase="first_token"\} [1-9]/);
    assert.match(text, /sse_streams_active 0/);
  });
});

describe('streams at shutdown', () => {
  // Listens: the stream under test is a live text/event-stream on a socket, ended by the shutdown.
  let database: TestDatabase;
  let t: TestApp;
  before(async () => {
    database = await createTestDatabase();
    t = await startTestApp({ listen: true, database, env: { BUILTIN_MODEL_DELAY_MS: '50' } });
  });
  after(async () => {
    await t.close();
    await database.drop();
  });

  it('ends open streams with event: error shutting_down and keeps the partial reply', async () => {
    const token = await user(t);
    const id = await conversation(t, token);
    let signalled = false;
    const res = await streamMessage(t.baseUrl, id, {
      token,
      content: 'keep talking',
      onEvent: (e) => {
        if (e.event === 'delta' && !signalled) {
          signalled = true;
          t.deps.lifecycle.beginShutdown();
        }
        return false;
      },
    });
    const last = res.events.at(-1);
    assert.equal(last?.event, 'error');
    assert.equal(last?.data.code, 'shutting_down');
    assert.equal(last?.data.status, 503);
    const reply = await t.deps.db.knex('messages').where({ conversation_id: id, role: 'assistant' }).first();
    assert.equal(reply.status, 'partial');
  });
});
