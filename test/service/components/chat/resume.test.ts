import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { fakeClock, type InProcessTestApp, startTestApp, type TestApp } from '../../../helpers/app.js';
import type { SchedulingClock } from '../../../../service/src/platform/clock.js';
import { api } from '../../../helpers/client.js';
import { manualClock } from '../../../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { scriptedModel, type ScriptedModel } from '../../../helpers/scripted-model.js';
import { type EventStreamReader, openEventStream, type SseEvent } from '../../../helpers/sse.js';
import { signedUpUser } from '../../../helpers/users.js';
import { waitFor } from '../../../helpers/wait.js';

/**
 * Resumable replies (issue 21): every SSE event of a reply has an id; GET …/messages/{message_id}/events
 * with Last-Event-ID sends what was missed, then follows the reply live — on whichever replica
 * generates it — to `done`. Replicas here are two apps on one database, each with its own LISTEN
 * connection; the model is scripted, so a stream is exactly as far as the test says.
 */

const LEASE_SECONDS = 30;

/** Cleanups of a test, run last-registered first (streams, then apps, then the database they share). */
const cleanups = new WeakMap<TestContext, (() => Promise<unknown> | unknown)[]>();
function cleanup(t: TestContext, fn: () => Promise<unknown> | unknown): void {
  let fns = cleanups.get(t);
  if (!fns) {
    const list: (() => Promise<unknown> | unknown)[] = [];
    fns = list;
    cleanups.set(t, list);
    t.after(async () => {
      for (const f of list.reverse()) await f();
    });
  }
  fns.push(fn);
}

async function database(t: TestContext): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanup(t, () => db.drop());
  return db;
}

async function replica(t: TestContext, db: TestDatabase, model: ScriptedModel, env: Record<string, string> = {}, clock: SchedulingClock = fakeClock()): Promise<TestApp> {
  const app = await startTestApp({
    database: db,
    listen: true,
    model,
    clock,
    env: { REPLY_LEASE_SECONDS: String(LEASE_SECONDS), ORPHAN_SWEEP_INTERVAL_SECONDS: '3600', ...env },
  });
  cleanup(t, () => app.close());
  return app;
}

async function userWithConversation(app: InProcessTestApp): Promise<{ token: string; conversationId: string }> {
  const token = (await signedUpUser(app, { tag: 'resume' })).access_token;
  const c = await api(app, 'POST', '/v1/conversations', { token, json: {} });
  assert.equal(c.status, 201, c.text);
  return { token, conversationId: c.body.id };
}

/** Starts a streamed reply and reads its first event (the stored user message): the reply id is in its id. */
async function startReply(app: TestApp, token: string, conversationId: string, t: TestContext) {
  const stream = await openEventStream(`${app.baseUrl}/v1/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ content: 'tell me a story' }),
  });
  cleanup(t, () => stream.drop());
  assert.equal(stream.status, 200);
  const first = await stream.next();
  assert.equal(first?.event, 'message');
  const [replyId, seq] = (first?.id ?? '').split(':');
  assert.equal(seq, '0');
  return { stream, replyId: replyId as string };
}

async function follow(app: TestApp, token: string, conversationId: string, replyId: string, t: TestContext, lastEventId?: string) {
  const stream = await openEventStream(`${app.baseUrl}/v1/conversations/${conversationId}/messages/${replyId}/events`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
  });
  cleanup(t, () => stream.drop());
  return stream;
}

async function take(stream: EventStreamReader, n: number): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  while (events.length < n) {
    const e = await stream.next();
    assert.ok(e, `the stream ended after ${events.length} of ${n} events`);
    events.push(e);
  }
  return events;
}

const deltasOf = (events: SseEvent[]) => events.filter((e) => e.event === 'delta');
const textOf = (events: SseEvent[]) => deltasOf(events).map((e) => e.data.text).join('');

/** Follows a reply on `follower`, drops the connection mid-stream, resumes with Last-Event-ID: every delta exactly once. */
async function resumeAcrossDisconnect(t: TestContext, generator: TestApp, follower: TestApp, model: ScriptedModel) {
  const { token, conversationId } = await userWithConversation(generator);
  const { stream: origin, replyId } = await startReply(generator, token, conversationId, t);
  const run = await model.nextRun();
  const words = Array.from({ length: 12 }, (_, i) => `w${i} `);
  for (const w of words.slice(0, 4)) run.say(w);

  const first = await follow(follower, token, conversationId, replyId, t);
  assert.equal(first.status, 200);
  const seen = await take(first, 3);
  for (const w of words.slice(4, 7)) run.say(w); // some of these may be in flight when the connection drops
  await first.drop();

  const lastId = seen.at(-1)?.id as string;
  const second = await follow(follower, token, conversationId, replyId, t, lastId);
  for (const w of words.slice(7)) run.say(w);
  run.end();
  const rest = await second.rest();
  const done = rest.at(-1);
  assert.equal(done?.event, 'done');
  assert.equal(done?.data.message.status, 'complete');

  const all = [...seen, ...rest];
  const ids = all.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, `no event twice: ${ids.join(' ')}`);
  assert.deepEqual(
    ids,
    all.map((_, i) => `${replyId}:${i + 1}`),
    'ids run 1, 2, … without a gap',
  );
  assert.equal(textOf(all), words.join(''), 'the deltas, concatenated, are the reply');
  const stored = await api(generator, 'GET', `/v1/conversations/${conversationId}/messages`, { token });
  assert.equal(stored.body.items.at(-1).content, textOf(all), 'and equal the stored reply');
  assert.deepEqual(done?.data.message, stored.body.items.at(-1));
  // The generating stream saw the same events under the same ids.
  const originEvents = await origin.rest();
  assert.deepEqual(
    originEvents.map((e) => [e.id, e.event]),
    all.map((e) => [e.id, e.event]),
  );
}

describe('resumable replies', () => {
  it('a follower that loses its connection resumes with Last-Event-ID and gets every delta exactly once', async (t) => {
    const db = await database(t);
    const model = scriptedModel();
    const app = await replica(t, db, model);
    await resumeAcrossDisconnect(t, app, app, model);
  });

  it('also when another replica generates the reply (LISTEN/NOTIFY between replicas)', async (t) => {
    const db = await database(t);
    const model = scriptedModel();
    const generator = await replica(t, db, model);
    const follower = await replica(t, db, scriptedModel());
    await resumeAcrossDisconnect(t, generator, follower, model);
  });

  it('a client that drops its own POST stream resumes it: the rest of what was stored, then done', async (t) => {
    const db = await database(t);
    const model = scriptedModel();
    const app = await replica(t, db, model);
    const { token, conversationId } = await userWithConversation(app);
    const { stream, replyId } = await startReply(app, token, conversationId, t);
    const run = await model.nextRun();
    for (const w of ['one ', 'two ', 'three ']) run.say(w);
    const seen = await take(stream, 2);
    await stream.drop(); // the model call is aborted with it: the reply is stored `partial`
    await waitFor('the reply to be stored', async () => (await db.db.knex('messages').where({ id: replyId }).first())?.generating_by === null);
    const resumed = await (await follow(app, token, conversationId, replyId, t, seen.at(-1)?.id)).rest();
    const done = resumed.at(-1);
    assert.equal(done?.event, 'done');
    assert.equal(done?.data.message.status, 'partial');
    assert.equal(textOf([...seen, ...resumed]), done?.data.message.content);
    const ids = [...seen, ...resumed].map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('resuming a completed reply gives the deltas after the id, then done; from its done, just done', async (t) => {
    const db = await database(t);
    const model = scriptedModel();
    const app = await replica(t, db, model);
    const { token, conversationId } = await userWithConversation(app);
    const { stream, replyId } = await startReply(app, token, conversationId, t);
    const run = await model.nextRun();
    for (const w of ['a ', 'b ', 'c ', 'd']) run.say(w);
    run.end();
    const original = await stream.rest();
    assert.deepEqual(
      original.map((e) => e.event),
      ['delta', 'delta', 'delta', 'delta', 'done'],
    );

    const whole = await (await follow(app, token, conversationId, replyId, t)).rest();
    assert.deepEqual(whole, original, 'without Last-Event-ID: the whole reply, same events and ids');
    const after2 = await (await follow(app, token, conversationId, replyId, t, `${replyId}:2`)).rest();
    assert.deepEqual(after2, original.slice(2));
    const bare = await (await follow(app, token, conversationId, replyId, t, '3')).rest();
    assert.deepEqual(bare, original.slice(3), 'a bare seq is understood too');
    const fromDone = await (await follow(app, token, conversationId, replyId, t, original.at(-1)?.id)).rest();
    assert.deepEqual(fromDone, original.slice(-1));
  });

  it("another user's reply, a user message, an unknown or malformed id: 404 before any stream", async (t) => {
    const db = await database(t);
    const model = scriptedModel();
    const app = await replica(t, db, model);
    const owner = await userWithConversation(app);
    const { stream, replyId } = await startReply(app, owner.token, owner.conversationId, t);
    (await model.nextRun()).end();
    await stream.rest();
    const userMessage = (await api(app, 'GET', `/v1/conversations/${owner.conversationId}/messages`, { token: owner.token })).body.items[0].id;
    const other = await userWithConversation(app);
    const attempts: [string, string, string][] = [
      [other.token, owner.conversationId, replyId], // another user's conversation
      [other.token, other.conversationId, replyId], // the reply, through a conversation of one's own
      [owner.token, owner.conversationId, userMessage], // not a reply
      [owner.token, owner.conversationId, '00000000-0000-4000-8000-000000000000'],
      [owner.token, owner.conversationId, 'not-a-uuid'],
    ];
    for (const [token, conversationId, messageId] of attempts) {
      const res = await api(app, 'GET', `/v1/conversations/${conversationId}/messages/${messageId}/events`, { token });
      assert.equal(res.status, 404, `${conversationId}/${messageId}`);
      assert.equal(res.body.code, 'not_found');
    }
    assert.equal((await api(app, 'GET', `/v1/conversations/${owner.conversationId}/messages/${replyId}/events`)).status, 401);
  });

  it("a dead replica's reply is failed once its lease expired, not before, and never while the replica renews it", async (t) => {
    const db = await database(t);
    // One manual clock for both replicas: the generator's renewals and the sweeper's now move together.
    const clock = manualClock(Date.now());
    const model = scriptedModel();
    const generator = await replica(t, db, model, {}, clock);
    const other = await replica(t, db, scriptedModel(), {}, clock);
    const { token, conversationId } = await userWithConversation(generator);
    const { stream: origin, replyId } = await startReply(generator, token, conversationId, t);
    const run = await model.nextRun();
    run.say('half ');
    run.say('a story');
    const follower = await follow(other, token, conversationId, replyId, t);
    assert.equal(textOf(await take(follower, 2)), 'half a story');
    const row = () => db.db.knex('messages').where({ id: replyId }).first();
    assert.equal((await row()).generating_by, generator.deps.chat.instanceId);

    // Alive: the generator renews every third of the lease, so sweeping never fails its reply.
    for (let i = 0; i < 6; i++) {
      await clock.tick((LEASE_SECONDS * 1000) / 3);
      const now = clock.now().getTime();
      await waitFor('the lease renewed', async () => new Date((await row()).lease_expires_at).getTime() > now);
      assert.deepEqual(await other.deps.chat.sweeper.sweep(), []);
    }
    assert.equal((await row()).status, 'partial');

    // Dead: nothing renews the lease any more (the model call hangs, the reply never finishes here).
    await generator.deps.chat.close();
    const leaseEnds = new Date((await row()).lease_expires_at).getTime();
    await clock.tick(leaseEnds - clock.now().getTime() - 1000);
    assert.deepEqual(await other.deps.chat.sweeper.sweep(), [], 'a second before the lease expires');
    assert.equal((await row()).status, 'partial');
    assert.equal((await row()).generating_by, generator.deps.chat.instanceId);
    await clock.tick(2000);
    assert.deepEqual(await other.deps.chat.sweeper.sweep(), [replyId], 'a second after');
    const failed = await row();
    assert.deepEqual([failed.status, failed.content, failed.generating_by, failed.lease_expires_at], ['failed', 'half a story', null, null]);

    // Followers end with it, on any replica.
    const rest = await follower.rest();
    assert.deepEqual(
      rest.map((e) => e.event),
      ['done'],
    );
    assert.equal(rest[0]?.data.message.status, 'failed');
    assert.equal(rest[0]?.data.message.content, 'half a story');
    assert.equal(rest[0]?.id, `${replyId}:3`);

    // A replica that was only slow, not dead, cannot overwrite the failed reply when it finishes.
    run.say(' that goes on');
    run.end();
    const originEnd = (await origin.rest()).at(-1);
    assert.equal(originEnd?.event, 'done');
    assert.equal(originEnd?.data.message.status, 'failed');
    assert.equal((await row()).content, 'half a story');
  });

  it("a finished reply's deltas are purged after REPLY_EVENTS_RETENTION_SECONDS (on the clock), a generating one's never; resuming the purged one gives done with the whole reply", async (t) => {
    const db = await database(t);
    const clock = manualClock(Date.now());
    const model = scriptedModel();
    const app = await replica(t, db, model, { REPLY_EVENTS_RETENTION_SECONDS: '60' }, clock);
    const { token, conversationId } = await userWithConversation(app);
    const finished = await startReply(app, token, conversationId, t);
    const run = await model.nextRun();
    for (const w of ['a ', 'b ', 'c']) run.say(w);
    run.end();
    const original = await finished.stream.rest();
    assert.equal(original.at(-1)?.event, 'done');

    const other = await userWithConversation(app);
    const generating = await startReply(app, other.token, other.conversationId, t);
    const running = await model.nextRun();
    running.say('still ');
    running.say('going ');
    await take(generating.stream, 2);

    const events = async (replyId: string) => Number((await db.db.knex('reply_events').where({ message_id: replyId }).count('* as n').first())?.n);
    assert.equal(await events(finished.replyId), 3);
    // A delta reaches its stream as soon as it is queued for storage, before its insert commits: both of
    // the generating reply's are stored before the purge runs, so keeping them is the purge's doing.
    await waitFor('the generating reply’s two deltas to be stored', async () => (await events(generating.replyId)) === 2);
    await clock.tick(10 * 60_000); // the purge runs every 10 minutes; the deltas are now 10 minutes old
    await waitFor('the finished reply’s deltas to be purged', async () => (await events(finished.replyId)) === 0);
    assert.equal(await events(generating.replyId), 2, 'a reply still being generated keeps every delta');

    const resumed = await (await follow(app, token, conversationId, finished.replyId, t, `${finished.replyId}:1`)).rest();
    assert.deepEqual(
      resumed.map((e) => e.event),
      ['done'],
    );
    assert.deepEqual(resumed[0]?.data, original.at(-1)?.data, 'done carries the whole stored reply');
    assert.equal(resumed[0]?.data.message.content, 'a b c');

    running.say('on');
    running.end();
    const rest = await generating.stream.rest();
    assert.equal(rest.at(-1)?.data.message.content, 'still going on');
  });

  it('the sweep runs every ORPHAN_SWEEP_INTERVAL_SECONDS on the injected clock', async (t) => {
    const db = await database(t);
    const clock = manualClock(Date.now());
    const app = await replica(t, db, scriptedModel(), { ORPHAN_SWEEP_INTERVAL_SECONDS: '5' }, clock);
    const { conversationId } = await userWithConversation(app);
    // A reply whose replica died right after storing the user's message: its row exists, leased.
    const [reply] = await db.db
      .knex('messages')
      .insert({ conversation_id: conversationId, role: 'assistant', content: '', status: 'partial', generating_by: 'dead-replica', lease_expires_at: new Date(clock.now().getTime() + 7000) })
      .returning(['id']);
    const status = async () => (await db.db.knex('messages').where({ id: reply.id }).first()).status;
    await clock.tick(5000); // a sweep runs; the lease has 2 s left
    assert.equal(await status(), 'partial');
    await clock.tick(5000);
    // The sweep is asynchronous and skips an interval while the previous one still runs (a slow
    // database under load): later intervals of the injected clock sweep it then.
    await waitFor('the reply to be failed by the periodic sweep', async () => {
      if ((await status()) === 'failed') return true;
      await clock.tick(5000);
      return false;
    });
  });
});
