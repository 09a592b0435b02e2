import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createIdempotencyStore, type IdempotencyStore, type KeyScope } from '../../../service/src/platform/idempotency-store.js';
import { manualClock } from '../../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';

const sha = (s: string) => createHash('sha256').update(s).digest();
const answer = { status: 201, headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: '{"id":1}' };

describe('idempotency store (PostgreSQL)', () => {
  let database: TestDatabase;
  let store: IdempotencyStore;
  let userId: string;
  const clock = manualClock();
  before(async () => {
    database = await createTestDatabase();
    store = createIdempotencyStore({ knex: database.db.knex, clock, ttlSeconds: 600, leaseSeconds: 120 });
    [{ id: userId }] = await database.db.knex('users').insert({ email: 'idempotency-store@example.com', password_hash: 'x' }).returning('id');
  });
  after(() => database.drop());

  const scope = (key: string): KeyScope => ({ userId, route: 'POST /things', keyHash: sha(key) });

  it('of many concurrent claims of one key exactly one wins; the rest see it in progress', async (t) => {
    t.after(() => database.db.knex('idempotency_keys').where({ user_id: userId }).delete());
    const claims = await Promise.all(Array.from({ length: 20 }, () => store.claim(scope('race'), sha('request'))));
    assert.equal(claims.filter((c) => c.kind === 'claimed').length, 1);
    assert.equal(claims.filter((c) => c.kind === 'in_progress' && c.sameRequest).length, 19);
  });

  it('a claim whose holder outlived its lease is taken over, and the old holder can no longer settle it', async (t) => {
    t.after(() => database.db.knex('idempotency_keys').where({ user_id: userId }).delete());
    const first = await store.claim(scope('lease'), sha('request'));
    assert.equal(first.kind, 'claimed');
    await clock.tick(119_000);
    assert.equal((await store.claim(scope('lease'), sha('request'))).kind, 'in_progress');
    await clock.tick(2_000);
    const second = await store.claim(scope('lease'), sha('request'));
    assert.equal(second.kind, 'claimed');
    if (first.kind !== 'claimed' || second.kind !== 'claimed') return;
    await store.complete(scope('lease'), first.claimedAt, { ...answer, body: '{"stale":true}' });
    await store.release(scope('lease'), first.claimedAt);
    assert.equal((await store.claim(scope('lease'), sha('request'))).kind, 'in_progress', "the stale holder touched nothing");
    await store.complete(scope('lease'), second.claimedAt, answer);
    const replay = await store.claim(scope('lease'), sha('request'));
    assert.deepEqual(replay, { kind: 'done', sameRequest: true, answer });
  });

  it('a finished answer lives for the TTL from when it finished; after it the key is free', async (t) => {
    t.after(() => database.db.knex('idempotency_keys').where({ user_id: userId }).delete());
    const first = await store.claim(scope('ttl'), sha('request'));
    assert.equal(first.kind, 'claimed');
    if (first.kind !== 'claimed') return;
    await clock.tick(100_000);
    await store.complete(scope('ttl'), first.claimedAt, answer);
    await clock.tick(599_000);
    assert.equal((await store.claim(scope('ttl'), sha('other request'))).kind, 'done');
    await clock.tick(2_000);
    assert.equal((await store.claim(scope('ttl'), sha('other request'))).kind, 'claimed');
  });
});
