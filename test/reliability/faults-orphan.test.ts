import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock, startTestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { skipUnlessRealPostgres } from '../helpers/services.js';
import { spawnService } from '../helpers/service-process.js';
import { openEventStream } from '../helpers/sse.js';
import { signedUpUser } from '../helpers/users.js';
import { api } from '../helpers/client.js';
import { CHILD_ENV, serviceEnv } from './helpers/fault-traffic.js';

/**
 * kill -9 of the replica generating a reply (issue 21): before, the user's message stayed without a
 * reply forever. Now its reply row exists from the start, leased to that replica; once the lease has
 * expired unrenewed, another replica's orphan sweeper fails it, keeping what was streamed — and not a
 * moment before. The sweeping replica's clock is moved to either side of the lease's end.
 */

const NEEDS_POSTGRES = await skipUnlessRealPostgres();
const LEASE_SECONDS = 30;

/** Cleanups run last-registered first: the streams, the processes and apps, then their database. */
function cleanupStack(t: { after(fn: () => Promise<void>): void }) {
  const fns: (() => Promise<unknown> | unknown)[] = [];
  t.after(async () => {
    for (const f of fns.reverse()) await f();
  });
  return (fn: () => Promise<unknown> | unknown) => fns.push(fn);
}

describe('kill -9 of the replica generating a reply', { skip: NEEDS_POSTGRES }, () => {
  it("the orphaned reply is failed after the lease and not before, with what was streamed; a follower's stream ends", async (t) => {
    const cleanup = cleanupStack(t);
    const database = await createTestDatabase();
    cleanup(() => database.drop());
    // A slow builtin model: the reply is mid-generation for seconds when the process is killed.
    const doomed = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({ DATABASE_URL: database.url as string, BUILTIN_MODEL_DELAY_MS: '300', REPLY_LEASE_SECONDS: String(LEASE_SECONDS) }),
    });
    cleanup(() => doomed.stop(1000));
    const clock = fakeClock();
    const survivor = await startTestApp({ database, listen: true, clock, env: { REPLY_LEASE_SECONDS: String(LEASE_SECONDS), ORPHAN_SWEEP_INTERVAL_SECONDS: '3600' } });
    cleanup(() => survivor.close());

    const token = (await signedUpUser(doomed.baseUrl, { tag: 'orphan' })).access_token;
    const conversation = await api(doomed.baseUrl, 'POST', '/v1/conversations', { token, json: {} });
    const id = conversation.body.id as string;
    const stream = await openEventStream(`${doomed.baseUrl}/v1/conversations/${id}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ content: 'a long story, please' }),
    });
    cleanup(() => stream.drop());
    const first = await stream.next();
    const replyId = (first?.id ?? '').split(':')[0] as string;
    assert.equal((await stream.next())?.event, 'delta');
    assert.equal((await stream.next())?.event, 'delta');
    const follower = await openEventStream(`${survivor.baseUrl}/v1/conversations/${id}/messages/${replyId}/events`, {
      headers: { authorization: `Bearer ${token}` },
    });
    cleanup(() => follower.drop());
    assert.equal((await follower.next())?.event, 'delta');

    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const row = () => database.db.knex('messages').where({ id: replyId }).first();
    const leased = await row();
    assert.equal(leased.status, 'partial');
    assert.ok(leased.generating_by, 'leased to the killed replica');
    const streamed = (await database.db.knex('reply_events').where({ message_id: replyId }).orderBy('seq')).map((e: { text: string }) => e.text).join('');
    assert.ok(streamed.length > 0);

    const leaseEnds = new Date(leased.lease_expires_at).getTime();
    clock.advance(leaseEnds - clock.now().getTime() - 1000);
    assert.deepEqual(await survivor.deps.chat.sweeper.sweep(), [], 'a second before the lease expires');
    assert.equal((await row()).status, 'partial');
    clock.advance(2000);
    assert.deepEqual(await survivor.deps.chat.sweeper.sweep(), [replyId], 'a second after');
    const failed = await row();
    assert.equal(failed.status, 'failed');
    assert.equal(failed.content, streamed, 'what was streamed is kept');

    const rest = await follower.rest();
    const done = rest.at(-1);
    assert.equal(done?.event, 'done');
    assert.equal(done?.data.message.status, 'failed');
    assert.equal(done?.data.message.content, streamed);
  });
});
