import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { skipUnlessRealPostgres } from '../helpers/services.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { chunkEvent, SSE_HEADERS, streamedReply } from '../service/components/chat/models/openai-compatible-server.js';
import { type Answer, CHILD_ENV, call, callStream, errorLines, newUser, serviceEnv, Tally } from './helpers/fault-traffic.js';
import { completion, type FakeModel, type Handler, startFakeModel } from './helpers/fake-model.js';

/**
 * The upstream model fails in every way it can — refuses connections, answers too slowly, stops
 * mid-reply, sends garbage — on the JSON and the SSE path of the real service
 * (MODEL_PROVIDER=openai against a local fake): each answer is the catalogue's 502
 * `model_unavailable` or 504 `model_timeout`, and what is stored is exactly what docs/api.md promises
 * (the user message, then the reply `failed` with no text or `partial` with exactly the text the
 * client was sent). Then the circuit breaker opens after five failures, fails fast without calling
 * the upstream, and closes once its open period is over and the upstream is healthy.
 */

const MODEL_TIMEOUT_MS = 800;
/** createOpenAiModel's default breaker (openai.ts → circuit-breaker.ts): 5 consecutive failures, 30 s open. */
const BREAKER_FAILURES = 5;
const BREAKER_OPEN_MS = 30_000;
/** A model answer later than this is a hang: the model timeout, one connect retry, and slack. */
const HANG_MS = MODEL_TIMEOUT_MS + 4000;

interface Rig {
  upstream: FakeModel;
  database: TestDatabase;
  service: ServiceProcess;
  token: string;
}

async function startRig(t: TestContext, env: Record<string, string> = {}): Promise<Rig> {
  const upstream = await startFakeModel();
  t.after(() => upstream.stop());
  const database = await createTestDatabase();
  t.after(() => database.drop());
  const service = await spawnService({
    inherit: CHILD_ENV,
    env: serviceEnv({
      DATABASE_URL: database.url as string,
      MODEL_PROVIDER: 'openai',
      MODEL_BASE_URL: upstream.baseUrl,
      MODEL_NAME: 'fake-model',
      MODEL_TIMEOUT_MS: String(MODEL_TIMEOUT_MS),
      ...env,
    }),
  });
  t.after(() => service.stop(5000));
  const { token } = await newUser(service.baseUrl, 'modelfault');
  return { upstream, database, service, token };
}

async function newConversation(rig: Rig): Promise<string> {
  const res = await call(rig.service.baseUrl, 'POST', '/v1/conversations', { token: rig.token, json: {}, timeoutMs: 5000 });
  assert.equal(res.status, 201);
  return res.body.id;
}

async function storedMessages(rig: Rig, conversationId: string) {
  return rig.database.db
    .knex('messages')
    .select('role', 'content', 'status')
    .where({ conversation_id: conversationId })
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);
}

const healthy: Handler = (_req, res) => {
  res.writeHead(200, SSE_HEADERS).end(streamedReply(['All ', 'is ', 'well.']));
};

/** Writes `head` then keeps the response open (no more bytes) until the client gives up. */
const stallAfter =
  (head: string): Handler =>
  (_req, res) =>
    new Promise<void>((resolve) => {
      res.writeHead(200, SSE_HEADERS);
      if (head) res.write(head);
      res.once('close', () => resolve());
    });

const slowHeaders: Handler = async (_req, res: ServerResponse) => {
  await sleep(MODEL_TIMEOUT_MS * 3);
  if (!res.destroyed) res.writeHead(200, SSE_HEADERS).end(streamedReply(['late']));
};

interface FaultCase {
  name: string;
  /** Sets the upstream up for the fault (may stop it); `restore` undoes what `arrange` did beyond the handler. */
  arrange(upstream: FakeModel): Promise<void> | void;
  restore?(upstream: FakeModel): Promise<void>;
  code: 'model_unavailable' | 'model_timeout';
  status: 502 | 504;
  /** What the stored reply must be: failed with no text, or partial with exactly this text. */
  reply: { status: 'failed'; content: '' } | { status: 'partial'; content: string };
  /** Requests each attempt makes to the upstream: none when refused, one otherwise (no retry once answered). */
  hitsPerCall: number;
}

const CASES: FaultCase[] = [
  {
    name: 'down (connection refused)',
    arrange: (u) => u.stop(),
    restore: (u) => u.start(),
    code: 'model_unavailable',
    status: 502,
    reply: { status: 'failed', content: '' },
    hitsPerCall: 0,
  },
  {
    name: 'slow (no response headers within MODEL_TIMEOUT_MS)',
    arrange: (u) => {
      u.handler = slowHeaders;
    },
    code: 'model_timeout',
    status: 504,
    reply: { status: 'failed', content: '' },
    hitsPerCall: 1,
  },
  {
    name: 'stalls mid-reply (one token, then silence past MODEL_TIMEOUT_MS)',
    arrange: (u) => {
      u.handler = stallAfter(chunkEvent({ role: 'assistant', content: 'Half ' }));
    },
    code: 'model_timeout',
    status: 504,
    reply: { status: 'partial', content: 'Half ' },
    hitsPerCall: 1,
  },
  {
    name: 'garbage (an event that is not JSON)',
    arrange: (u) => {
      u.handler = (_req, res) => {
        res.writeHead(200, SSE_HEADERS).end('data: {"choices": [{"delta": \u0000\u00ff not json\n\n');
      };
    },
    code: 'model_unavailable',
    status: 502,
    reply: { status: 'failed', content: '' },
    hitsPerCall: 1,
  },
  {
    name: 'garbage (a JSON completion instead of an event stream)',
    arrange: (u) => {
      u.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { content: 'no' } }] }));
      };
    },
    code: 'model_unavailable',
    status: 502,
    reply: { status: 'failed', content: '' },
    hitsPerCall: 1,
  },
  {
    name: 'garbage mid-reply (two tokens, then a malformed chunk)',
    arrange: (u) => {
      u.handler = (_req, res) => {
        res
          .writeHead(200, SSE_HEADERS)
          .end(`${chunkEvent({ content: 'Some ' })}${chunkEvent({ content: 'words' })}data: {"choices": "nope"}\n\n`);
      };
    },
    code: 'model_unavailable',
    status: 502,
    reply: { status: 'partial', content: 'Some words' },
    hitsPerCall: 1,
  },
];

/** The SSE answer of a failed reply: 200, the stored user message first, then deltas, then one error event. */
function assertFailedStream(res: Answer & { events: { event: string; data: any }[] }, code: string, content: string): string {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.events[0]?.event, 'message');
  assert.equal(res.events[0]?.data.role, 'user');
  assert.equal(res.events[0]?.data.content, content);
  const last = res.events.at(-1);
  assert.equal(last?.event, 'error');
  assert.equal(last?.data.code, code);
  assert.ok(
    res.events.slice(1, -1).every((e) => e.event === 'delta'),
    `only deltas between: ${res.events.map((e) => e.event).join(',')}`,
  );
  return res.events
    .filter((e) => e.event === 'delta')
    .map((e) => e.data.text)
    .join('');
}

const NEEDS_POSTGRES = await skipUnlessRealPostgres();

describe('model upstream faults (MODEL_PROVIDER=openai against a local fake)', { concurrency: 2, skip: NEEDS_POSTGRES }, () => {
  it('down, slow, stalled and garbage upstreams answer 502/504 on the JSON and SSE paths and store exactly what was said', async (t) => {
    const rig = await startRig(t);
    const base = rig.service.baseUrl;
    const tally = new Tally('model upstream down/slow/garbage', 'answered_502_504_by_design');
    for (const fault of CASES) {
      for (const path of ['json', 'sse'] as const) {
        await t.test(`${fault.name}, ${path}`, async () => {
          await fault.arrange(rig.upstream);
          const id = await newConversation(rig);
          const hitsBefore = rig.upstream.hits;
          const content = `${fault.name} via ${path}`;
          let relayed = '';
          try {
            if (path === 'json') {
              const res = await call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content }, timeoutMs: HANG_MS });
              tally.add(`${fault.name} json`, res, res.status === fault.status && res.code === fault.code ? 'by_design' : 'unexpected');
              assert.equal(res.status, fault.status, res.text);
              assert.equal(res.code, fault.code);
              relayed = fault.reply.content; // the JSON path relays nothing; what is stored is checked below
            } else {
              const res = await callStream(base, id, { token: rig.token, content, timeoutMs: HANG_MS });
              const ok = res.status === 200 && res.events.at(-1)?.data.code === fault.code;
              tally.add(`${fault.name} sse`, res, ok ? 'by_design' : 'unexpected');
              relayed = assertFailedStream(res, fault.code, content);
            }
          } finally {
            await fault.restore?.(rig.upstream);
            rig.upstream.handler = healthy;
          }
          assert.equal(rig.upstream.hits - hitsBefore, fault.hitsPerCall, 'upstream requests for this call');
          assert.deepEqual(await storedMessages(rig, id), [
            { role: 'user', content, status: 'complete' },
            { role: 'assistant', ...fault.reply },
          ]);
          assert.equal(relayed, fault.reply.content, 'the stored partial reply is exactly what the client was streamed');

          // Healthy again at once (and the success resets the breaker's consecutive-failure count).
          const after = await call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content: 'again' }, timeoutMs: HANG_MS });
          assert.equal(after.status, 201, after.text);
          assert.equal(after.body.reply.content, 'All is well.');
        });
      }
    }
    console.log(tally.summary());
    assert.deepEqual(tally.unexpected, [], errorLines(rig.service.output()));
  });

  it('the circuit opens after five failures (fast failure, no upstream call) and closes after its open period', async (t) => {
    const rig = await startRig(t);
    const base = rig.service.baseUrl;
    const post = (id: string, content: string) =>
      call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content }, timeoutMs: HANG_MS });
    const id = await newConversation(rig);
    rig.upstream.handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
    };

    for (let i = 0; i < BREAKER_FAILURES; i++) {
      const res = await post(id, `fail ${i}`);
      assert.equal(res.status, 502);
      assert.equal(res.code, 'model_unavailable');
    }
    const openedAt = Date.now();
    assert.equal(rig.upstream.hits, BREAKER_FAILURES, 'one upstream request per failure, no retry of an answered request');

    // Open: both paths fail fast, the upstream is not called — even once it is healthy again.
    rig.upstream.handler = healthy;
    const openJson = await post(id, 'while open');
    assert.equal(openJson.status, 502);
    assert.equal(openJson.code, 'model_unavailable');
    const openSse = await callStream(base, id, { token: rig.token, content: 'while open, streaming', timeoutMs: HANG_MS });
    assertFailedStream(openSse, 'model_unavailable', 'while open, streaming');
    assert.equal(rig.upstream.hits, BREAKER_FAILURES, 'the open circuit does not call the upstream');

    // The open period passes (real time: the spawned service has its own clock).
    await sleep(Math.max(0, openedAt + BREAKER_OPEN_MS + 250 - Date.now()));
    const probe = await post(id, 'after the open period');
    assert.equal(probe.status, 201, probe.text);
    assert.equal(rig.upstream.hits, BREAKER_FAILURES + 1, 'one probe reached the upstream');
    const streamed = await callStream(base, id, { token: rig.token, content: 'closed again, streaming', timeoutMs: HANG_MS });
    assert.equal(streamed.events.at(-1)?.event, 'done');
    assert.equal(rig.upstream.hits, BREAKER_FAILURES + 2, 'closed: calls go through');

    // Every attempt stored its user message; every refused one a failed reply, never a half-written one.
    const rows = await storedMessages(rig, id);
    const assistant = rows.filter((r) => r.role === 'assistant');
    assert.equal(rows.filter((r) => r.role === 'user').length, BREAKER_FAILURES + 4);
    assert.deepEqual(
      assistant.map((r) => r.status),
      [...Array(BREAKER_FAILURES + 2).fill('failed'), 'complete', 'complete'],
    );
    console.log(
      `[faults] model circuit breaker: failures_to_open=${BREAKER_FAILURES} upstream_hits_while_open=0 ` +
        `open_fast_fail_ms=${Math.round(openJson.ms)} closed_after_ms=${Date.now() - openedAt}`,
    );
  });

  it('with MODEL_FALLBACK_*, every fault before the first token is answered by the fallback (ledger and metrics say so); after a token, never', async (t) => {
    const fallback = await startFakeModel();
    t.after(() => fallback.stop());
    fallback.handler = completion({ fragments: ['Fallback ', 'here.'], usage: { prompt_tokens: 11, completion_tokens: 2 } });
    const rig = await startRig(t, { MODEL_FALLBACK_BASE_URL: fallback.baseUrl, MODEL_FALLBACK_NAME: 'fallback-model' });
    const base = rig.service.baseUrl;
    const tally = new Tally('model upstream faults with a fallback', 'answered_by_fallback_or_502_504_by_design');
    const expected = { timeout: 0, unavailable: 0 };
    for (const fault of CASES) {
      const beforeFirstToken = fault.reply.status === 'failed';
      for (const path of ['json', 'sse'] as const) {
        await t.test(`${fault.name}, ${path}`, async () => {
          await fault.arrange(rig.upstream);
          const id = await newConversation(rig);
          const [primaryBefore, fallbackBefore] = [rig.upstream.hits, fallback.hits];
          const content = `${fault.name} via ${path}, with a fallback`;
          try {
            if (path === 'json') {
              const res = await call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content }, timeoutMs: HANG_MS * 2 });
              const ok = beforeFirstToken ? res.status === 201 && res.body.reply.content === 'Fallback here.' : res.status === fault.status;
              tally.add(`${fault.name} json`, res, ok ? 'by_design' : 'unexpected');
              assert.ok(ok, `${res.status} ${res.text}`);
            } else {
              const res = await callStream(base, id, { token: rig.token, content, timeoutMs: HANG_MS * 2 });
              if (beforeFirstToken) {
                const deltas = res.events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('');
                const ok = res.events.at(-1)?.event === 'done' && deltas === 'Fallback here.';
                tally.add(`${fault.name} sse`, res, ok ? 'by_design' : 'unexpected');
                assert.ok(ok, res.text);
              } else {
                tally.add(`${fault.name} sse`, res, res.events.at(-1)?.data.code === fault.code ? 'by_design' : 'unexpected');
                assert.equal(assertFailedStream(res, fault.code, content), fault.reply.content);
              }
            }
          } finally {
            await fault.restore?.(rig.upstream);
            rig.upstream.handler = healthy;
          }
          assert.equal(rig.upstream.hits - primaryBefore, fault.hitsPerCall, 'the primary is tried first, once');
          assert.equal(fallback.hits - fallbackBefore, beforeFirstToken ? 1 : 0, 'the fallback only before the first token');
          const reply = beforeFirstToken ? { status: 'complete', content: 'Fallback here.' } : fault.reply;
          assert.deepEqual(await storedMessages(rig, id), [
            { role: 'user', content, status: 'complete' },
            { role: 'assistant', ...reply },
          ]);
          const ledger = await rig.database.db.knex('model_usage').where({ conversation_id: id }).select('provider', 'model', 'outcome', 'estimated', 'prompt_tokens', 'completion_tokens');
          assert.deepEqual(
            ledger,
            beforeFirstToken
              ? [{ provider: 'fallback', model: 'fallback-model', outcome: 'ok', estimated: false, prompt_tokens: 11, completion_tokens: 2 }]
              : [{ provider: 'openai', model: 'fake-model', outcome: fault.code === 'model_timeout' ? 'timeout' : 'error', estimated: true, prompt_tokens: ledger[0]?.prompt_tokens, completion_tokens: ledger[0]?.completion_tokens }],
          );
          if (beforeFirstToken) expected[fault.code === 'model_timeout' ? 'timeout' : 'unavailable'] += 1;

          // The primary answers again at once (its success resets the breaker's failure count).
          const after = await call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content: 'again' }, timeoutMs: HANG_MS });
          assert.equal(after.status, 201, after.text);
          assert.equal(after.body.reply.content, 'All is well.');
        });
      }
    }

    // Both down: the fallback's failure is the answer, and nothing but a failed reply is stored.
    await rig.upstream.stop();
    t.after(() => rig.upstream.start());
    await fallback.stop();
    const id = await newConversation(rig);
    const both = await call(base, 'POST', `/v1/conversations/${id}/messages`, { token: rig.token, json: { content: 'both down' }, timeoutMs: HANG_MS * 2 });
    tally.add('primary and fallback down', both, both.status === 502 && both.code === 'model_unavailable' ? 'by_design' : 'unexpected');
    assert.equal(both.status, 502, both.text);
    assert.equal(both.code, 'model_unavailable');
    assert.deepEqual((await storedMessages(rig, id)).map((m) => m.status), ['complete', 'failed']);
    expected.unavailable += 1;

    const metrics = await (await fetch(rig.service.metricsUrl)).text();
    const counter = (reason: string) => Number(new RegExp(`^model_fallbacks_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
    assert.deepEqual({ timeout: counter('timeout'), unavailable: counter('unavailable') }, expected);
    assert.match(metrics, /^model_tokens_total\{provider="fallback",model="fallback-model",kind="completion"\} \d+/m);
    assert.match(metrics, /^external_model_latency_seconds_count\{provider="fallback",outcome="ok",phase="total"\} \d+/m);
    console.log(tally.summary());
    console.log(`[faults] model fallback: fallbacks=${JSON.stringify(expected)}`);
    assert.deepEqual(tally.unexpected, [], errorLines(rig.service.output()));
  });
});
