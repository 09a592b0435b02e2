import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fakeClock, startTestApp, type TestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { signedUpUser } from '../../../helpers/users.js';
import { waitFor } from '../../../helpers/wait.js';
import { type FakeModel, startFakeModel } from '../../../reliability/helpers/fake-model.js';
import { SSE_HEADERS, streamedReply } from './models/openai-compatible-server.js';

/**
 * Idempotency-Key on POST /v1/conversations and POST …/messages (issue 21; IETF
 * draft-ietf-httpapi-idempotency-key-header), against real PostgreSQL and an OpenAI-compatible fake
 * that counts the model calls.
 */
const TTL_SECONDS = 60;
const answering = (fragments: string[]) => (_req: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(200, SSE_HEADERS);
  res.end(streamedReply(fragments));
};

/** A fake-model handler that holds its answer until `open()`: the first request stays in progress. */
function gatedAnswer() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    open,
    handler: async (_req: unknown, res: import('node:http').ServerResponse) => {
      await gate;
      answering(['slow ', 'reply'])(_req, res);
    },
  };
}

describe('idempotency keys on the chat POST routes', () => {
  let database: TestDatabase;
  let model: FakeModel;
  /** The fake model holds every reply until `open()`; the usual answer comes back after the test. */
  const holdReplies = (tc: { after(fn: () => unknown): void }) => {
    const gated = gatedAnswer();
    model.handler = gated.handler;
    tc.after(() => {
      gated.open();
      model.handler = answering(['Hello', ' there']);
    });
    return gated;
  };
  let t: TestApp;
  const clock = fakeClock();
  before(async () => {
    database = await createTestDatabase();
    model = await startFakeModel();
    model.handler = answering(['Hello', ' there']);
    t = await startTestApp({
      listen: true,
      database,
      clock,
      env: {
        MODEL_PROVIDER: 'openai',
        MODEL_BASE_URL: model.baseUrl,
        MODEL_NAME: 'fake',
        IDEMPOTENCY_TTL_SECONDS: String(TTL_SECONDS),
        SSE_HEARTBEAT_MS: '1000',
      },
    });
  });
  after(async () => {
    await t.close();
    await model.stop();
    await database.drop();
  });

  const user = async () => (await signedUpUser(t, { tag: 'idem' })).access_token;
  const conversation = async (token: string) => (await api(t, 'POST', '/v1/conversations', { token, json: {} })).body.id as string;
  const post = (token: string, path: string, key: string, json: unknown) => api(t, 'POST', path, { token, json, headers: { 'idempotency-key': key } });
  const messageCount = async (conversationId: string) => Number((await t.deps.db.knex('messages').where({ conversation_id: conversationId }).count({ n: '*' }))[0]?.n);
  const conversationCount = async (token: string) => (await api(t, 'GET', '/v1/conversations?limit=100', { token })).body.items.length as number;

  it('replays a retried conversation creation: same status and body, no second conversation', async () => {
    const token = await user();
    const first = await post(token, '/v1/conversations', 'create-1', { title: 'Trip' });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get('idempotency-replayed'), null);
    const retry = await post(token, '/v1/conversations', 'create-1', { title: 'Trip' });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotency-replayed'), 'true');
    assert.match(retry.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(retry.body, first.body);
    assert.equal(await conversationCount(token), 1);
  });

  it('replays a retried message without a second model call or a second row, and never stores the key', async () => {
    const token = await user();
    const id = await conversation(token);
    const hits = model.hits;
    const first = await post(token, `/v1/conversations/${id}/messages`, 'msg-key-1', { content: 'hello' });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.reply.content, 'Hello there');
    assert.equal(model.hits, hits + 1);
    // Member order and whitespace do not make another request: the body is compared canonically.
    const retry = await api(t, 'POST', `/v1/conversations/${id}/messages`, {
      token,
      body: '{ "content" : "hello" }',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'msg-key-1' },
    });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotency-replayed'), 'true');
    assert.equal(retry.text, first.text);
    assert.equal(model.hits, hits + 1, 'no second upstream call');
    assert.equal(await messageCount(id), 2, 'no second message pair');
    const rows = await t.deps.db.knex('idempotency_keys').where({ route: 'POST /v1/conversations/{id}/messages', key_hash: createHash('sha256').update('msg-key-1').digest() });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'done');
    assert.ok(!JSON.stringify(rows[0]).includes('msg-key-1'), 'the key itself is never stored');
  });

  it('answers 422 idempotency_key_mismatch for the same key with another body or path', async () => {
    const token = await user();
    const id = await conversation(token);
    const other = await conversation(token);
    assert.equal((await post(token, `/v1/conversations/${id}/messages`, 'mismatch', { content: 'one' })).status, 201);
    const hits = model.hits;
    for (const [path, content] of [
      [`/v1/conversations/${id}/messages`, 'two'],
      [`/v1/conversations/${other}/messages`, 'one'],
    ] as const) {
      const res = await post(token, path, 'mismatch', { content });
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.code, 'idempotency_key_mismatch');
    }
    assert.equal(model.hits, hits);
    assert.equal(await messageCount(other), 0);
  });

  it('answers 409 idempotency_key_in_use with Retry-After while the first request still runs', async (tc) => {
    const token = await user();
    const id = await conversation(token);
    const gated = holdReplies(tc);
    const hits = model.hits;
    const first = post(token, `/v1/conversations/${id}/messages`, 'concurrent', { content: 'slow one' });
    await waitFor('the first request to reach the model', () => model.hits === hits + 1);
    const second = await post(token, `/v1/conversations/${id}/messages`, 'concurrent', { content: 'slow one' });
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.code, 'idempotency_key_in_use');
    assert.equal(second.headers.get('retry-after'), '1');
    gated.open();
    assert.equal((await first).status, 201);
    assert.equal(model.hits, hits + 1, 'one model call in all');
    assert.equal(await messageCount(id), 2);
    const retry = await post(token, `/v1/conversations/${id}/messages`, 'concurrent', { content: 'slow one' });
    assert.equal(retry.headers.get('idempotency-replayed'), 'true');
  });

  it("runs two users' requests with the same key independently", async () => {
    const [alice, bob] = [await user(), await user()];
    const a = await post(alice, '/v1/conversations', 'shared-key', { title: 'same' });
    const b = await post(bob, '/v1/conversations', 'shared-key', { title: 'same' });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.equal(b.headers.get('idempotency-replayed'), null);
    assert.notEqual(a.body.id, b.body.id);
    assert.equal(await conversationCount(bob), 1);
  });

  it('frees the key when the first attempt fails with a 5xx, so the retry runs', async (tc) => {
    const token = await user();
    const id = await conversation(token);
    await model.stop();
    let down = true;
    tc.after(async () => {
      if (down) await model.start();
    });
    const failed = await post(token, `/v1/conversations/${id}/messages`, 'after-outage', { content: 'hi' });
    assert.equal(failed.status, 502, failed.text);
    await model.start();
    down = false;
    const retry = await post(token, `/v1/conversations/${id}/messages`, 'after-outage', { content: 'hi' });
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.headers.get('idempotency-replayed'), null);
    assert.equal(retry.body.reply.status, 'complete');
  });

  it('keeps a 4xx answer and replays it, with the retry’s own request id', async () => {
    const token = await user();
    const missing = '00000000-0000-4000-8000-000000000000';
    const first = await post(token, `/v1/conversations/${missing}/messages`, 'missing', { content: 'hi' });
    assert.equal(first.status, 404);
    const retry = await post(token, `/v1/conversations/${missing}/messages`, 'missing', { content: 'hi' });
    assert.equal(retry.status, 404);
    assert.equal(retry.headers.get('idempotency-replayed'), 'true');
    assert.equal(retry.body.code, 'not_found');
    assert.equal(retry.body.request_id, retry.headers.get('x-request-id'));
    assert.notEqual(retry.body.request_id, first.body.request_id);
  });

  it('handles a body nested as deep as its size allows (400 kept and replayed, never a 500)', async () => {
    const token = await user();
    const depth = 40_000;
    const body = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const send = () => api(t, 'POST', '/v1/conversations', { token, body, headers: { 'content-type': 'application/json', 'idempotency-key': 'deep' } });
    const first = await send();
    assert.equal(first.status, 400, first.text.slice(0, 300));
    const retry = await send();
    assert.equal(retry.status, 400);
    assert.equal(retry.headers.get('idempotency-replayed'), 'true');
  });

  it('refuses a malformed Idempotency-Key with 400 validation_failed naming the header', async () => {
    const token = await user();
    for (const key of ['', 'k'.repeat(256), 'caf\u00e9', 'tab\there']) {
      const res = await post(token, '/v1/conversations', key, {});
      assert.equal(res.status, 400, JSON.stringify(key));
      assert.equal(res.body.code, 'validation_failed');
      assert.equal(res.body.errors[0].field, 'Idempotency-Key');
    }
    // A control character, which no fetch sends: written on a socket by hand.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
      });
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      socket.end(`POST /v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nIdempotency-Key: a\u0001b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 'latin1');
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal((await post(token, '/v1/conversations', 'k'.repeat(255), {})).status, 201);
    assert.equal((await post(token, '/v1/conversations', ' !~"quoted" key', {})).status, 201);
    assert.equal(await conversationCount(token), 2);
  });

  it('replays a streamed reply as the 201 JSON message pair; 409 while it still streams', async (tc) => {
    const token = await user();
    const id = await conversation(token);
    const gated = holdReplies(tc);
    const hits = model.hits;
    const stream = (key: string, accept = 'text/event-stream') =>
      fetch(`${t.baseUrl}/v1/conversations/${id}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}`, 'idempotency-key': key },
        body: JSON.stringify({ content: 'stream it' }),
      });
    const first = await stream('streamed');
    assert.equal(first.status, 200);
    await waitFor('the stream to reach the model', () => model.hits === hits + 1);
    const during = await stream('streamed');
    assert.equal(during.status, 409);
    assert.equal(((await during.json()) as { code: string }).code, 'idempotency_key_in_use');
    gated.open();
    const text = await first.text();
    const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(text)?.[1] ?? 'null');
    const message = JSON.parse(/event: message\ndata: (.*)\n/.exec(text)?.[1] ?? 'null');
    assert.equal(done.message.content, 'slow reply');

    for (const accept of ['text/event-stream', 'application/json']) {
      const replay = await stream('streamed', accept).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.json() }));
      assert.equal(replay.status, 201, accept);
      assert.equal(replay.headers.get('idempotency-replayed'), 'true');
      assert.deepEqual(replay.body, { message, reply: done.message });
    }
    assert.equal(model.hits, hits + 1, 'no second upstream call');
    assert.equal(await messageCount(id), 2);
  });

  it('frees the key of a stream the client left before done', async (tc) => {
    const token = await user();
    const id = await conversation(token);
    holdReplies(tc);
    const controller = new AbortController();
    const res = await fetch(`${t.baseUrl}/v1/conversations/${id}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}`, 'idempotency-key': 'left' },
      body: JSON.stringify({ content: 'bye' }),
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const keyHash = createHash('sha256').update('left').digest();
    assert.equal((await t.deps.db.knex('idempotency_keys').where({ key_hash: keyHash }).first('status'))?.status, 'in_progress');
    controller.abort();
    await waitFor('the key to be freed', async () => (await t.deps.db.knex('idempotency_keys').where({ key_hash: keyHash })).length === 0);
  });

  it('treats a key past its TTL as new, and the purge deletes expired keys only', async (tc) => {
    const token = await user();
    const first = await post(token, '/v1/conversations', 'ttl', { title: 'a' });
    clock.advance((TTL_SECONDS - 1) * 1000);
    assert.equal((await post(token, '/v1/conversations', 'ttl', { title: 'a' })).headers.get('idempotency-replayed'), 'true');
    clock.advance(2000);
    const after = await post(token, '/v1/conversations', 'ttl', { title: 'a' });
    assert.equal(after.status, 201);
    assert.equal(after.headers.get('idempotency-replayed'), null);
    assert.notEqual(after.body.id, first.body.id);

    const userId = (await api(t, 'GET', '/v1/me', { token })).body.id;
    await post(token, '/v1/conversations', 'purged', { title: 'b' });
    clock.advance((TTL_SECONDS + 1) * 1000);
    await post(token, '/v1/conversations', 'kept', { title: 'c' });
    tc.after(() => t.deps.db.knex('idempotency_keys').where({ user_id: userId }).delete());
    await t.deps.chat.idempotency.purgeExpired();
    const left = await t.deps.db.knex('idempotency_keys').where({ user_id: userId }).select('key_hash');
    assert.deepEqual(
      left.map((r: { key_hash: Buffer }) => r.key_hash.toString('hex')),
      [createHash('sha256').update('kept').digest('hex')],
    );
  });
});
