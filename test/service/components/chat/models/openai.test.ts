import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { createCircuitBreaker } from '../../../../../service/src/components/chat/models/circuit-breaker.js';
import {
  chatCompletionsUrl,
  createOpenAiModel,
  type OpenAiModelOptions,
} from '../../../../../service/src/components/chat/models/openai.js';
import {
  type ChatTurn,
  ModelTimeoutError,
  ModelUnavailableError,
} from '../../../../../service/src/components/chat/models/provider.js';
import { Secret } from '../../../../../service/src/config/secret.js';
import {
  chunkEvent,
  type OpenAiCompatibleServer,
  pause,
  SSE_HEADERS,
  startOpenAiCompatibleServer,
  streamedReply,
} from './openai-compatible-server.js';
import { freePort } from '../../../../helpers/private-postgres.js';

const API_KEY = 'sk-test-DO-NOT-LEAK-4f9a1c';
const TURNS: ChatTurn[] = [
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello! How can I help?' },
  { role: 'user', content: 'Say something nice.' },
];

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const fragment of iterable) out.push(fragment);
  return out;
}

/** Runs the stream; resolves with what it yielded and how it ended. */
async function run(iterable: AsyncIterable<string>): Promise<{ fragments: string[]; error: unknown }> {
  const fragments: string[] = [];
  try {
    for await (const fragment of iterable) fragments.push(fragment);
    return { fragments, error: undefined };
  } catch (error) {
    return { fragments, error };
  }
}

function frozenClock() {
  return {
    t: 0,
    now() {
      return this.t;
    },
  };
}

/** Resolves when the server sees the request's connection close, or rejects after `ms`. */
function closedWithin(req: { once(event: 'close', l: () => void): unknown }, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not see the request close within ${ms} ms`)), ms);
    req.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}


describe('OpenAI-compatible model', () => {
  let upstream: OpenAiCompatibleServer;
  before(async () => {
    upstream = await startOpenAiCompatibleServer();
  });
  after(() => upstream.close());
  beforeEach(() => {
    upstream.requests.length = 0;
  });

  const model = (overrides: Partial<OpenAiModelOptions> = {}) =>
    createOpenAiModel({
      baseUrl: upstream.baseUrl,
      apiKey: new Secret(API_KEY),
      model: 'gpt-test',
      timeoutMs: 5_000,
      retryDelayMs: 20,
      ...overrides,
    });

  it('is named openai', () => {
    assert.equal(model().name, 'openai');
  });

  it('posts model, messages and stream:true with the bearer key to /v1/chat/completions', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['Hello', ' there', '!']));
    };
    const fragments = await collect(model().stream(TURNS, new AbortController().signal));
    assert.deepEqual(fragments, ['Hello', ' there', '!'], 'role-only and empty deltas are skipped');
    const [request] = upstream.requests;
    assert.equal(upstream.requests.length, 1);
    assert.equal(request!.method, 'POST');
    assert.equal(request!.url, '/v1/chat/completions');
    assert.equal(request!.headers.authorization, `Bearer ${API_KEY}`);
    assert.match(request!.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(request!.body), { model: 'gpt-test', messages: TURNS, stream: true, stream_options: { include_usage: true } });
  });

  it('sends max_tokens when given and reports the usage chunk OpenAI sends last', async () => {
    upstream.handler = (_req, res) => {
      const usage = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 17, completion_tokens: 2, total_tokens: 19 } })}\n\n`;
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['Hi', '!']).replace('data: [DONE]', `${usage}data: [DONE]`));
    };
    const seen: unknown[] = [];
    const fragments = await collect(model().stream(TURNS, new AbortController().signal, { maxTokens: 77, onUsage: (u) => seen.push(u) }));
    assert.deepEqual(fragments, ['Hi', '!']);
    assert.deepEqual(seen, [{ promptTokens: 17, completionTokens: 2 }]);
    assert.equal(JSON.parse(upstream.requests.at(-1)!.body).max_tokens, 77);
  });

  it('sends no Authorization header when no key is configured, and accepts a base URL ending in /v1', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['ok']));
    };
    const fragments = await collect(
      model({ apiKey: undefined, baseUrl: `${upstream.baseUrl}/v1/` }).stream(TURNS, new AbortController().signal),
    );
    assert.deepEqual(fragments, ['ok']);
    assert.equal(upstream.requests[0]!.url, '/v1/chat/completions');
    assert.equal(upstream.requests[0]!.headers.authorization, undefined);
  });

  it('reassembles text split across chunk boundaries, mid-UTF-8 character, with CRLF and comments', async () => {
    const body = Buffer.from(
      (': OPENROUTER PROCESSING\n\n' + streamedReply(['Grüße ', '🌍', ' 日本語'])).replace(/\n/g, '\r\n'),
      'utf8',
    );
    const earth = body.indexOf(Buffer.from('🌍'));
    const cuts = [
      3,
      earth + 1,
      earth + 2,
      body.indexOf(Buffer.from('日')) + 1,
      body.indexOf(Buffer.from('[DONE]')) + 2,
      body.length - 1,
    ];
    upstream.handler = async (_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      let from = 0;
      for (const cut of [...cuts, body.length]) {
        res.write(body.subarray(from, cut));
        from = cut;
        await pause(15); // separate writes so the client reads separate chunks
      }
      res.end();
    };
    const fragments = await collect(model().stream(TURNS, new AbortController().signal));
    assert.equal(fragments.join(''), 'Grüße 🌍 日本語');
  });

  it('when the first byte is slow, fails with ModelTimeoutError after timeoutMs (and counts a failure)', async () => {
    upstream.handler = async (_req, res) => {
      await pause(3_000);
      if (!res.destroyed) res.writeHead(200, SSE_HEADERS).end(streamedReply(['late']));
    };
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    const started = performance.now();
    const { fragments, error } = await run(model({ timeoutMs: 300, breaker }).stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelTimeoutError, String(error));
    assert.equal(error.code, 'model_timeout');
    assert.deepEqual(fragments, []);
    assert.ok(performance.now() - started < 1_500);
    assert.equal(upstream.requests.length, 1, 'a timeout is not retried');
    assert.equal(breaker.state, 'open');
  });

  it('when response headers do not come within connectTimeoutMs, times out even though timeoutMs is long', async () => {
    upstream.handler = async () => {
      await pause(3_000);
    };
    const started = performance.now();
    const { error } = await run(model({ timeoutMs: 10_000, connectTimeoutMs: 200 }).stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelTimeoutError, String(error));
    assert.ok(performance.now() - started < 1_500);
  });

  it('when headers come but no content does, times out after timeoutMs', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(chunkEvent({ role: 'assistant', content: '' }));
    };
    const { error } = await run(model({ timeoutMs: 300 }).stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelTimeoutError, String(error));
  });

  it('bounds the whole reply by timeoutMs: a reply that trickles on forever ends with ModelTimeoutError after its tokens', async () => {
    upstream.handler = async (_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      while (!res.destroyed) {
        res.write(chunkEvent({ content: 'more ' }));
        await pause(30);
      }
    };
    const { fragments, error } = await run(model({ timeoutMs: 400 }).stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelTimeoutError, String(error));
    assert.ok(fragments.length > 2, `${fragments.length} fragments before the deadline`);
  });

  it('on 500s fails without retry, opens the circuit (no more requests), and a probe closes it after the open period', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"internal boom"}}');
    };
    const clock = frozenClock();
    const breaker = createCircuitBreaker({ failureThreshold: 3, openMs: 30_000, clock });
    const m = model({ breaker });
    for (let i = 0; i < 3; i++) {
      const { error } = await run(m.stream(TURNS, new AbortController().signal));
      assert.ok(error instanceof ModelUnavailableError, String(error));
      assert.match(error.message, /500/);
      assert.doesNotMatch(error.message, /boom/);
    }
    assert.equal(upstream.requests.length, 3, 'one request per call: a response is never retried');
    assert.equal(breaker.state, 'open');

    const { error: fastFail } = await run(m.stream(TURNS, new AbortController().signal));
    assert.ok(fastFail instanceof ModelUnavailableError);
    assert.equal(fastFail.message, 'circuit open');
    assert.equal(upstream.requests.length, 3, 'the server sees nothing while the circuit is open');

    clock.t += 30_000;
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['back']));
    };
    assert.deepEqual(await collect(m.stream(TURNS, new AbortController().signal)), ['back']);
    assert.equal(upstream.requests.length, 4);
    assert.equal(breaker.state, 'closed');
  });

  it('a 429 counts against the circuit; a 400 does not', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    upstream.handler = (_req, res) => {
      res.writeHead(400).end('{}');
    };
    assert.ok((await run(model({ breaker }).stream(TURNS, new AbortController().signal))).error instanceof ModelUnavailableError);
    assert.equal(breaker.state, 'closed');
    upstream.handler = (_req, res) => {
      res.writeHead(429, { 'retry-after': '1' }).end('{}');
    };
    assert.ok((await run(model({ breaker }).stream(TURNS, new AbortController().signal))).error instanceof ModelUnavailableError);
    assert.equal(breaker.state, 'open');
  });

  it('when the connection is refused, retries exactly once after a pause, then fails with ModelUnavailableError', async () => {
    let calls = 0;
    const countingFetch: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    const started = performance.now();
    const { error } = await run(
      model({ baseUrl: `http://127.0.0.1:${await freePort()}`, fetch: countingFetch, retryDelayMs: 100, breaker }).stream(
        TURNS,
        new AbortController().signal,
      ),
    );
    assert.ok(error instanceof ModelUnavailableError, String(error));
    assert.equal(error.message, 'model upstream unreachable (ECONNREFUSED)');
    assert.equal(calls, 2);
    assert.ok(performance.now() - started >= 95, 'the retry waited for its backoff');
    assert.equal(breaker.state, 'open', 'a connection failure counts once against the circuit');
  });

  it('a connection that fails once and then succeeds gives the reply', async () => {
    let calls = 0;
    const flakyFetch: typeof fetch = (input, init) =>
      ++calls === 1
        ? Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }))
        : fetch(input, init);
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['second', ' time']));
    };
    assert.deepEqual(await collect(model({ fetch: flakyFetch }).stream(TURNS, new AbortController().signal)), [
      'second',
      ' time',
    ]);
    assert.equal(calls, 2);
  });

  it('never puts an upstream error body or the API key in the error', async () => {
    const leaked = 'sk-proj-LEAKED0123456789abcdef';
    const body = JSON.stringify({
      error: { message: `Incorrect API key provided: ${leaked}`, type: 'invalid_request_error', code: 'invalid_api_key' },
    });
    upstream.handler = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(body);
    };
    const m = model();
    const { error } = await run(m.stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelUnavailableError);
    assert.equal(error.message, 'model upstream answered HTTP 401');
    for (const text of [
      error.message,
      String(error.stack),
      inspect(error, { depth: 5 }),
      JSON.stringify(error),
      inspect(m, { depth: 5 }),
    ]) {
      assert.ok(!text.includes('LEAKED'), text);
      assert.ok(!text.includes(API_KEY), text);
    }
  });

  it('when the caller aborts mid-stream, the upstream request is closed and the iteration ends with an AbortError', async () => {
    let closed: Promise<void> | undefined;
    upstream.handler = (_req, res) => {
      closed = closedWithin(res, 2_000);
      res.writeHead(200, SSE_HEADERS);
      res.write(chunkEvent({ role: 'assistant', content: '' }) + chunkEvent({ content: 'first' }));
    };
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    const controller = new AbortController();
    const seen: string[] = [];
    await assert.rejects(
      async () => {
        for await (const f of model({ breaker }).stream(TURNS, controller.signal)) {
          seen.push(f);
          controller.abort();
        }
      },
      { name: 'AbortError' },
    );
    assert.deepEqual(seen, ['first']);
    await closed;
    assert.equal(breaker.state, 'closed', 'an abort by the caller is not an upstream failure');
  });

  it('when the caller aborts before any response, the upstream request is closed', async () => {
    let closed: Promise<void> | undefined;
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    upstream.handler = (_req, res) => {
      closed = closedWithin(res, 2_000);
      arrived();
    };
    const controller = new AbortController();
    const result = run(model().stream(TURNS, controller.signal));
    await requestArrived;
    controller.abort();
    const { error } = await result;
    assert.equal((error as Error).name, 'AbortError');
    await closed;
  });

  it('when the consumer stops iterating, the upstream request is closed', async () => {
    let closed: Promise<void> | undefined;
    upstream.handler = (_req, res) => {
      closed = closedWithin(res, 2_000);
      res.writeHead(200, SSE_HEADERS);
      res.write(chunkEvent({ content: 'one' }) + chunkEvent({ content: 'two' }));
    };
    for await (const f of model().stream(TURNS, new AbortController().signal)) {
      assert.equal(f, 'one');
      break;
    }
    await closed;
  });

  it('a garbage stream (non-JSON data) fails with ModelUnavailableError and counts against the circuit', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end('data: this is not json\n\n');
    };
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    const { error } = await run(model({ breaker }).stream(TURNS, new AbortController().signal));
    assert.ok(error instanceof ModelUnavailableError, String(error));
    assert.equal(breaker.state, 'open');
  });

  it('a chunk without choices, or a 200 that is not an event stream, fails with ModelUnavailableError', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end('data: {"object":"chat.completion.chunk"}\n\ndata: [DONE]\n\n');
    };
    assert.ok((await run(model().stream(TURNS, new AbortController().signal))).error instanceof ModelUnavailableError);
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"error":{"message":"no"}}');
    };
    assert.ok((await run(model().stream(TURNS, new AbortController().signal))).error instanceof ModelUnavailableError);
  });

  it('when the connection breaks mid-stream, throws after the tokens already yielded, without retrying', async () => {
    upstream.handler = async (_req, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(chunkEvent({ role: 'assistant', content: '' }) + chunkEvent({ content: 'Hel' }) + chunkEvent({ content: 'lo' }));
      await pause(50);
      res.socket?.destroy();
    };
    const { fragments, error } = await run(model().stream(TURNS, new AbortController().signal));
    assert.deepEqual(fragments, ['Hel', 'lo']);
    assert.ok(error instanceof ModelUnavailableError, String(error));
    assert.equal(upstream.requests.length, 1);
  });

  it('a stream that ends cleanly without [DONE] or a finish_reason is incomplete: ModelUnavailableError after its tokens', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(chunkEvent({ content: 'partial' }));
    };
    const { fragments, error } = await run(model().stream(TURNS, new AbortController().signal));
    assert.deepEqual(fragments, ['partial']);
    assert.ok(error instanceof ModelUnavailableError);
  });

  it('when the circuit is open, fails fast even for an unreachable host', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, clock: frozenClock() });
    breaker.tryAcquire()!.failure();
    let calls = 0;
    const { error } = await run(
      model({ breaker, fetch: () => Promise.reject(new Error(`fetch called ${++calls}`)) }).stream(
        TURNS,
        new AbortController().signal,
      ),
    );
    assert.equal((error as Error).message, 'circuit open');
    assert.equal(calls, 0);
  });
});

describe('chat completions URL', () => {
  it('accepts the server root or its /v1, with or without a trailing slash', () => {
    for (const base of ['http://h:8080', 'http://h:8080/', 'http://h:8080/v1', 'http://h:8080/v1/'])
      assert.equal(chatCompletionsUrl(base), 'http://h:8080/v1/chat/completions');
    assert.equal(chatCompletionsUrl('https://gw.example/openai/v1'), 'https://gw.example/openai/v1/chat/completions');
  });

  it('refuses credentials in the URL without echoing them', () => {
    assert.throws(
      () => chatCompletionsUrl('https://user:hunter2@h.example'),
      (err: Error) => !err.message.includes('hunter2'),
    );
    assert.throws(
      () => chatCompletionsUrl('not a url hunter2'),
      (err: Error) => !err.message.includes('hunter2'),
    );
  });
});
