import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { api } from '../../../helpers/client.js';
import { streamMessage } from '../../../helpers/sse.js';
import { TEST_PASSWORD } from '../../../helpers/users.js';
import {
  chunkEvent,
  type OpenAiCompatibleServer,
  pause,
  SSE_HEADERS,
  startOpenAiCompatibleServer,
  streamedReply,
} from './models/openai-compatible-server.js';

/** The chat API end to end with MODEL_PROVIDER=openai against a local OpenAI-compatible server. */
describe('chat with the openai provider', () => {
  // Listens: replies are streamed to the client as text/event-stream, which needs a socket.
  let upstream: OpenAiCompatibleServer;
  let database: TestDatabase;
  let t: TestApp;
  let token: string;
  before(async () => {
    upstream = await startOpenAiCompatibleServer();
    database = await createTestDatabase();
    t = await startTestApp({ listen: true,
      database,
      env: {
        MODEL_PROVIDER: 'openai',
        MODEL_BASE_URL: `${upstream.baseUrl}/v1`,
        MODEL_NAME: 'gpt-test',
        MODEL_API_KEY: 'sk-test-upstream-key-never-shown',
        MODEL_TIMEOUT_MS: '500',
      },
    });
    const s = await api(t.baseUrl, 'POST', '/v1/auth/signup', { json: { email: 'openai-user@example.com', password: TEST_PASSWORD } });
    token = s.body.access_token;
  });
  beforeEach(() => {
    upstream.requests.length = 0;
  });
  after(async () => {
    await t.close();
    await database.drop();
    await upstream.close();
  });

  const newConversation = async () => (await api(t.baseUrl, 'POST', '/v1/conversations', { token, json: {} })).body.id as string;

  it('streams the upstream reply through as deltas and stores it', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['Moats ', 'and ', 'walls.']));
    };
    const id = await newConversation();
    const res = await streamMessage(t.baseUrl, id, { token, content: 'defences?' });
    assert.deepEqual(res.events.filter((e) => e.event === 'delta').map((e) => e.data.text), ['Moats ', 'and ', 'walls.']);
    assert.equal(res.events.at(-1)?.data.message.content, 'Moats and walls.');
    const sent = JSON.parse(upstream.requests[0]?.body ?? '{}');
    assert.equal(sent.model, 'gpt-test');
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.messages.at(-1), { role: 'user', content: 'defences?' });
    assert.equal(upstream.requests[0]?.headers.authorization, 'Bearer sk-test-upstream-key-never-shown');
  });

  it('answers 504 model_timeout when the first byte is too slow, and stores a failed reply', async () => {
    upstream.handler = async (_req, res) => {
      await pause(1500);
      if (!res.destroyed) res.writeHead(200, SSE_HEADERS).end(streamedReply(['late']));
    };
    const id = await newConversation();
    const res = await api(t.baseUrl, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: 'hurry' } });
    assert.equal(res.status, 504);
    assert.equal(res.body.code, 'model_timeout');
    const reply = await t.deps.db.knex('messages').where({ conversation_id: id, role: 'assistant' }).first();
    assert.equal(reply.status, 'failed');
  });

  it('ends a stream with event: error and keeps the partial reply when the upstream fails mid-stream', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(chunkEvent({ content: 'Half an ' }));
      setTimeout(() => res.destroy(), 50);
    };
    const id = await newConversation();
    const res = await streamMessage(t.baseUrl, id, { token, content: 'go' });
    const last = res.events.at(-1);
    assert.equal(last?.event, 'error');
    assert.equal(last?.data.code, 'model_unavailable');
    const reply = await t.deps.db.knex('messages').where({ conversation_id: id, role: 'assistant' }).first();
    assert.equal(reply.status, 'partial');
    assert.equal(reply.content, 'Half an ');
  });

  it('never relays an upstream error body, and opens the circuit after repeated 500s', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"db password is hunter2"}');
    };
    const id = await newConversation();
    for (let i = 0; i < 5; i++) {
      const res = await api(t.baseUrl, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: `try ${i}` } });
      assert.equal(res.status, 502);
      assert.equal(res.body.code, 'model_unavailable');
      assert.doesNotMatch(res.text, /hunter2/);
    }
    const before = upstream.requests.length;
    const open = await api(t.baseUrl, 'POST', `/v1/conversations/${id}/messages`, { token, json: { content: 'circuit open?' } });
    assert.equal(open.status, 502);
    assert.equal(upstream.requests.length, before, 'the open circuit fails fast without calling upstream');
    assert.doesNotMatch(t.logText(), /sk-test-upstream-key-never-shown/);
  });
});
