import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { createModelGate } from '../../../../service/src/components/chat/model-gate.js';
import { loadConfig } from '../../../../service/src/config/load.js';
import { fakeClock, startTestApp, TEST_JWT_SECRET, type TestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createTestDatabase } from '../../../helpers/database.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { testRedisUrl } from '../../../helpers/services.js';
import { streamMessage } from '../../../helpers/sse.js';
import { signedUpUser } from '../../../helpers/users.js';
import { waitFor } from '../../../helpers/wait.js';
import { completion, startFakeModel, type FakeModel } from '../../../reliability/helpers/fake-model.js';

const redisUrl = testRedisUrl();
const NEEDS_REDIS = !redisUrl && 'needs Redis (TEST_REDIS_URL) shared by two replicas';

async function deleteKeys(prefix: string): Promise<void> {
  const client = new Redis(redisUrl as string, { lazyConnect: true });
  await client.connect();
  const keys = await client.keys(`${prefix}:*`);
  if (keys.length > 0) await client.del(...keys);
  await client.quit();
}

/** Two replicas sharing one database and one Redis (a unique key prefix), both calling the fake upstream. */
async function twoReplicas(t: TestContext, env: Record<string, string>): Promise<{ a: TestApp; b: TestApp; upstream: FakeModel; prefix: string }> {
  const prefix = `gate-${randomBytes(4).toString('hex')}`;
  const upstream = await startFakeModel();
  t.after(() => upstream.stop());
  const database = await createTestDatabase();
  t.after(() => database.drop());
  const shared = {
    REDIS_URL: redisUrl as string,
    REDIS_KEY_PREFIX: prefix,
    MODEL_PROVIDER: 'openai',
    MODEL_BASE_URL: upstream.baseUrl,
    MODEL_NAME: 'fake-model',
    ...env,
  };
  const a = await startTestApp({ database, clock: fakeClock(), listen: true, env: shared });
  t.after(() => a.close());
  const b = await startTestApp({ database, clock: fakeClock(), listen: true, env: shared });
  t.after(() => b.close());
  t.after(() => deleteKeys(prefix));
  await Promise.all([redisReady(a.deps.redis), redisReady(b.deps.redis)]);
  return { a, b, upstream, prefix };
}

async function conversation(app: TestApp, token: string): Promise<string> {
  const res = await api(app, 'POST', '/v1/conversations', { token, json: {} });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

describe('one gate for every model call, across replicas', { skip: NEEDS_REDIS }, () => {
  it('refuses the 4th concurrent call of a user on either replica, streamed or not, and frees the slots when the calls end', async (t) => {
    let open!: () => void;
    const hold = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { a, b, upstream } = await twoReplicas(t, { MAX_MODEL_CALLS_PER_USER: '3' });
    upstream.handler = completion({ hold, usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const user = await signedUpUser(a, { tag: 'gate' });
    const ids = await Promise.all([1, 2, 3, 4, 5].map(() => conversation(a, user.access_token)));

    const running = [
      streamMessage(a.baseUrl, ids[0] as string, { token: user.access_token, content: 'first' }),
      api(b, 'POST', `/v1/conversations/${ids[1]}/messages`, { token: user.access_token, json: { content: 'second' } }),
      streamMessage(b.baseUrl, ids[2] as string, { token: user.access_token, content: 'third' }),
    ];
    await waitFor('three calls upstream', () => upstream.hits === 3);
    assert.equal(await a.deps.chat.gate.activeFor(user.user.id), 3, 'both replicas count the same slots');

    const plain = await api(a, 'POST', `/v1/conversations/${ids[3]}/messages`, { token: user.access_token, json: { content: 'fourth' } });
    assert.equal(plain.status, 429, plain.text);
    assert.equal(plain.body.code, 'too_many_model_calls');
    assert.equal(plain.headers.get('retry-after'), '1');
    const streamed = await streamMessage(b.baseUrl, ids[4] as string, { token: user.access_token, content: 'fourth, streamed' });
    assert.equal(streamed.status, 429);
    assert.equal((streamed.events[0]?.data as { code?: string } | undefined)?.code, 'too_many_streams');
    assert.equal(upstream.hits, 3, 'a refused call never reaches the model');

    open();
    const [first, second, third] = await Promise.all(running);
    assert.equal((first as { status: number }).status, 200);
    assert.equal((second as { status: number }).status, 201);
    assert.equal((third as { status: number }).status, 200);
    await waitFor('every slot released', async () => (await b.deps.chat.gate.activeFor(user.user.id)) === 0);
  });

  it("frees a disconnected client's slot within a second and cancels its upstream call", async (t) => {
    let upstreamAborted = false;
    const { a, upstream } = await twoReplicas(t, { MAX_MODEL_CALLS_PER_USER: '3' });
    upstream.handler = completion({ hold: new Promise(() => undefined), onAbort: () => (upstreamAborted = true) });
    const user = await signedUpUser(a, { tag: 'gate-gone' });
    const id = await conversation(a, user.access_token);
    const controller = new AbortController();
    const pending = fetch(`${a.baseUrl}/v1/conversations/${id}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.access_token}` },
      body: JSON.stringify({ content: 'hello' }),
      signal: controller.signal,
    }).catch((err: Error) => err);
    await waitFor('the call upstream', async () => upstream.hits === 1 && (await a.deps.chat.gate.activeFor(user.user.id)) === 1);
    controller.abort();
    const freedInMs = await waitFor('the slot freed', async () => (await a.deps.chat.gate.activeFor(user.user.id)) === 0, 1000, 10);
    t.diagnostic(`slot freed ${Math.round(freedInMs)} ms after the client left`);
    await waitFor('the upstream request closed', () => upstreamAborted, 1000, 10);
    assert.ok((await pending) instanceof Error);
    const rows = await waitFor('the ledger row', async () => (await a.deps.db.knex('model_usage').where({ user_id: user.user.id })).length === 1);
    assert.ok(rows >= 0);
    const [row] = await a.deps.db.knex('model_usage').where({ user_id: user.user.id });
    assert.equal(row.outcome, 'aborted');
  });

  it("gives a crashed replica's slots back once their lease expires, and not before", async (t) => {
    const prefix = `gate-lease-${randomBytes(4).toString('hex')}`;
    t.after(() => deleteKeys(prefix));
    const crashing = new Redis(redisUrl as string);
    const surviving = new Redis(redisUrl as string);
    t.after(() => surviving.quit());
    const handle = (client: Redis) => ({ client, available: () => client.status === 'ready' });
    await Promise.all([crashing, surviving].map((c) => new Promise<void>((resolve) => (c.status === 'ready' ? resolve() : c.once('ready', () => resolve())))));
    const options = { perUser: 2, total: 100, leaseSeconds: 1, keyPrefix: prefix };
    const dying = createModelGate({ ...options, redis: handle(crashing) });
    const alive = createModelGate({ ...options, redis: handle(surviving) });
    assert.equal(typeof (await dying.acquire('u1')), 'object');
    assert.equal(typeof (await dying.acquire('u1')), 'object');
    assert.equal(await alive.acquire('u1'), 'user', 'the other replica sees both slots taken');
    // The replica dies: its connection goes, nothing is released and nothing renews the leases.
    const died = performance.now();
    crashing.disconnect();
    assert.equal(await alive.acquire('u1'), 'user', 'still held right after the crash (within the lease)');
    let lease: Awaited<ReturnType<typeof alive.acquire>> = 'user';
    await waitFor('the expired leases back', async () => {
      lease = await alive.acquire('u1');
      return typeof lease === 'object';
    }, 3000, 50);
    const backAfter = performance.now() - died;
    t.diagnostic(`slots back ${Math.round(backAfter)} ms after the crash (lease 1000 ms)`);
    assert.ok(backAfter < 2500, `back within the lease (plus renewal slack), took ${backAfter} ms`);
    if (typeof lease === 'object') (lease as { release(): void }).release();
  });

  it('a running call keeps its slot past the lease: it is renewed', async (t) => {
    const prefix = `gate-renew-${randomBytes(4).toString('hex')}`;
    t.after(() => deleteKeys(prefix));
    const client = new Redis(redisUrl as string);
    t.after(() => client.quit());
    await new Promise<void>((resolve) => (client.status === 'ready' ? resolve() : client.once('ready', () => resolve())));
    const gate = createModelGate({ perUser: 1, total: 100, leaseSeconds: 1, keyPrefix: prefix, redis: { client, available: () => true } });
    const lease = await gate.acquire('u');
    assert.equal(typeof lease, 'object');
    await new Promise((resolve) => setTimeout(resolve, 1600)); // real time: the lease is in Redis's clock
    assert.equal(await gate.acquire('u'), 'user', 'still held after 1.6 leases');
    (lease as { release(): void }).release();
    await waitFor('released', async () => (await gate.activeFor('u')) === 0, 1000, 10);
  });
});

describe('token budgets, reserve then settle', { skip: NEEDS_REDIS }, () => {
  it('hold under 50 parallel calls across two replicas, streamed or not: the settled total never passes the budget by more than one reservation; the refused get 429 budget_exhausted with Retry-After', async (t) => {
    const BUDGET = 2000;
    const MAX_OUTPUT = 64;
    const { a, b, upstream } = await twoReplicas(t, {
      MAX_MODEL_CALLS_PER_USER: '100',
      MODEL_TOKENS_PER_DAY: String(BUDGET),
      MODEL_TOKENS_PER_MONTH: '0',
      MODEL_MAX_OUTPUT_TOKENS: String(MAX_OUTPUT),
    });
    const fake = completion({ usage: { prompt_tokens: 30, completion_tokens: 40 } });
    upstream.handler = fake;
    const user = await signedUpUser(a, { tag: 'budget' });
    const ids = await Promise.all(Array.from({ length: 50 }, () => conversation(a, user.access_token)));
    // Every fourth call streams (SSE): the budget is checked before the stream opens, as on the JSON path.
    const answers = await Promise.all(
      ids.map(async (id, i) => {
        const replica = i % 2 === 0 ? a : b;
        const content = `question ${i}`;
        if (i % 4 !== 3) {
          const r = await api(replica, 'POST', `/v1/conversations/${id}/messages`, { token: user.access_token, json: { content } });
          return { streamed: false, status: r.status, code: r.body?.code as string | undefined, headers: r.headers, text: r.text };
        }
        const r = await streamMessage(replica.baseUrl, id, { token: user.access_token, content });
        const last = r.events.at(-1);
        // A stream that opened must end `done`: a 200 then an error event would be a budget overshoot in flight.
        const status = r.status === 200 && last?.event === 'done' ? 201 : r.status;
        return { streamed: true, status, code: last?.data?.code as string | undefined, headers: r.headers, text: r.raw };
      }),
    );
    const ok = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status === 429);
    assert.equal(ok.length + refused.length, 50, answers.map((r) => `${r.status} ${r.text.slice(0, 80)}`).join('\n'));
    assert.ok(refused.length > 0, 'the budget runs out');
    // Which calls win the race is up to the scheduler. What the settled calls gave back (reserved
    // output they did not use) allows a few more; once that is used a stream is refused before it opens.
    let after = await streamMessage(b.baseUrl, ids[0] as string, { token: user.access_token, content: 'one more, streamed' });
    let more = 0;
    while (after.status === 200 && after.events.at(-1)?.event === 'done' && more < 5) {
      more += 1;
      after = await streamMessage(b.baseUrl, ids[0] as string, { token: user.access_token, content: 'one more, streamed' });
    }
    assert.equal(after.status, 429, after.raw);
    assert.equal(after.events[0]?.data.code, 'budget_exhausted');
    assert.match(after.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(after.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    for (const r of refused) {
      assert.equal(r.code, 'budget_exhausted');
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      assert.ok(Number(r.headers.get('retry-after')) <= 86_400);
    }
    assert.equal(upstream.hits, ok.length + more, 'a refused call never reaches the model, streamed or not');
    assert.equal(fake.requestsSeen[0]?.max_tokens, MAX_OUTPUT);
    assert.deepEqual(fake.requestsSeen[0]?.stream_options, { include_usage: true });
    const rows = await a.deps.db.knex('model_usage').where({ user_id: user.user.id });
    assert.equal(rows.length, ok.length + more, 'one ledger row per call');
    const settled = rows.reduce((n, r) => n + r.prompt_tokens + r.completion_tokens, 0);
    assert.ok(rows.every((r) => !r.estimated && r.prompt_tokens === 30 && r.completion_tokens === 40 && r.outcome === 'ok'));
    const oneReservation = 30 + MAX_OUTPUT; // the prompt estimate is a few tokens; bounded generously
    t.diagnostic(`50 parallel calls on two replicas (${answers.filter((r) => r.streamed).length} streamed): ${ok.length} ok, ${refused.length} refused; settled ${settled} of a budget of ${BUDGET}`);
    assert.ok(settled <= BUDGET + oneReservation, `settled ${settled} > budget ${BUDGET} + one reservation`);
    // Reserve-then-settle releases what calls did not use: the budget is nearly used, not left idle.
    assert.ok(settled >= BUDGET - 2 * (70 + MAX_OUTPUT), `settled ${settled} leaves too much of ${BUDGET} unused`);

    const usage = await api(b, 'GET', '/v1/usage', { token: user.access_token });
    assert.equal(usage.status, 200, usage.text);
    assert.equal(usage.body.day.used, settled);
    assert.equal(usage.body.day.limit, BUDGET);
    assert.equal(usage.body.month.used, settled);
    assert.equal(usage.body.month.limit, null, 'MODEL_TOKENS_PER_MONTH=0: unlimited');
    const metric = (await a.deps.metrics.registry.getSingleMetric('model_budget_rejections_total')?.get())?.values ?? [];
    const metricB = (await b.deps.metrics.registry.getSingleMetric('model_budget_rejections_total')?.get())?.values ?? [];
    assert.equal([...metric, ...metricB].reduce((n, v) => n + v.value, 0), refused.length + 1, 'the refusals of the 50 calls and of the streamed one after');
  });

  it("a user's model_budgets row overrides the settings; Retry-After runs to the next UTC midnight", async (t) => {
    const { a, upstream } = await twoReplicas(t, { MODEL_TOKENS_PER_DAY: '100000', MODEL_MAX_OUTPUT_TOKENS: '64' });
    upstream.handler = completion({ usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const user = await signedUpUser(a, { tag: 'override' });
    await a.deps.db.knex('model_budgets').insert({ user_id: user.user.id, tokens_per_day: 50, tokens_per_month: null, updated_by: 'test' });
    const id = await conversation(a, user.access_token);
    const res = await api(a, 'POST', `/v1/conversations/${id}/messages`, { token: user.access_token, json: { content: 'hi' } });
    assert.equal(res.status, 429, 'the reservation (prompt + 64) does not fit in 50');
    assert.equal(res.body.code, 'budget_exhausted');
    const now = a.deps.clock.now();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    const expected = Math.ceil((midnight - now.getTime()) / 1000);
    assert.ok(Math.abs(Number(res.headers.get('retry-after')) - expected) <= 2, `${res.headers.get('retry-after')} vs ${expected}`);
    const usage = await api(a, 'GET', '/v1/usage', { token: user.access_token });
    assert.deepEqual(usage.body.day, { used: 0, limit: 50, resets_at: new Date(midnight).toISOString() });
    assert.equal(usage.body.month.limit, null, 'the month left unlimited (GENEROUS_LIMITS), the row sets no month');
  });

  it('settles to an estimate, flagged, when the upstream reports no usage; the ledger row goes with the reply', async (t) => {
    const { a, upstream } = await twoReplicas(t, { MODEL_TOKENS_PER_DAY: '100000' });
    upstream.handler = completion({ usage: false, fragments: ['Hello', ' there', ' friend'] });
    const user = await signedUpUser(a, { tag: 'estimate' });
    const id = await conversation(a, user.access_token);
    const res = await api(a, 'POST', `/v1/conversations/${id}/messages`, { token: user.access_token, json: { content: 'Say hello to me' } });
    assert.equal(res.status, 201, res.text);
    const [row] = await a.deps.db.knex('model_usage').where({ user_id: user.user.id });
    assert.equal(row.estimated, true);
    assert.equal(row.provider, 'openai');
    assert.equal(row.model, 'fake-model');
    assert.equal(row.outcome, 'ok');
    assert.equal(row.conversation_id, id);
    assert.equal(row.message_id, res.body.reply.id);
    assert.equal(row.completion_tokens, 3, 'o200k_base: "Hello there friend" is three tokens');
    assert.ok(row.prompt_tokens > 0 && row.prompt_tokens < 30, String(row.prompt_tokens));
    const usage = await api(a, 'GET', '/v1/usage', { token: user.access_token });
    assert.equal(usage.body.day.used, row.prompt_tokens + row.completion_tokens);
    const tokens = (await a.deps.metrics.registry.getSingleMetric('model_tokens_total')?.get())?.values ?? [];
    assert.deepEqual(
      tokens.map((v) => [v.labels.kind, v.value]).sort(),
      [['completion', 3], ['prompt', row.prompt_tokens]],
    );
  });
});

describe('without Redis the gate and the budgets count in memory', () => {
  it('the builtin model: an estimated ledger row, GET /v1/usage, and budget_exhausted once the day is used', async (t) => {
    const app = await startTestApp({ clock: fakeClock(), env: { BUILTIN_MODEL_DELAY_MS: '0', MODEL_TOKENS_PER_DAY: '400', MODEL_MAX_OUTPUT_TOKENS: '100' } });
    t.after(() => app.close());
    const user = await signedUpUser(app, { tag: 'memory' });
    const id = (await api(app, 'POST', '/v1/conversations', { token: user.access_token, json: {} })).body.id;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await api(app, 'POST', `/v1/conversations/${id}/messages`, { token: user.access_token, json: { content: `tell me ${i}` } });
      statuses.push(res.status);
      if (res.status === 429) assert.equal(res.body.code, 'budget_exhausted');
    }
    assert.ok(statuses.includes(201) && statuses.includes(429), statuses.join(','));
    const rows = await app.deps.db.knex('model_usage').where({ user_id: user.user.id });
    assert.equal(rows.length, statuses.filter((s) => s === 201).length);
    assert.ok(rows.every((r) => r.estimated && r.provider === 'builtin' && r.outcome === 'ok'));
    const settled = rows.reduce((n, r) => n + r.prompt_tokens + r.completion_tokens, 0);
    const usage = await api(app, 'GET', '/v1/usage', { token: user.access_token });
    assert.equal(usage.body.day.used, settled);
    assert.ok(settled <= 400);
  });
});

describe('MAX_MODEL_CALLS_PER_USER', () => {
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, ...env }).config.limits.maxModelCallsPerUser;
  it('defaults to 3, accepts MAX_STREAMS_PER_USER as its former name, and wins over it when both are set', () => {
    assert.equal(load({}), 3);
    assert.equal(load({ MAX_STREAMS_PER_USER: '5' }), 5);
    assert.equal(load({ MAX_STREAMS_PER_USER: '5', MAX_MODEL_CALLS_PER_USER: '2' }), 2);
  });
});
