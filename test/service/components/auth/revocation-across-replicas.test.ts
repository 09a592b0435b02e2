import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeClock, startTestApp, type FakeClock, type InProcessTestApp } from '../../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD } from '../../../helpers/users.js';

describe('session revocation seen by every replica', () => {
  let database: TestDatabase;
  let clock: FakeClock;
  let a: InProcessTestApp;
  let b: InProcessTestApp;
  before(async () => {
    database = await createTestDatabase();
    clock = fakeClock();
    a = await startTestApp({ database, clock });
    b = await startTestApp({ database, clock });
  });
  after(async () => {
    await a.close();
    await b.close();
    await database.drop();
  });

  it('refuses a revoked session at once on the revoking replica and within 1 s on another', async () => {
    const s = await api(a, 'POST', '/v1/auth/signup', {
      json: { email: 'replicas@example.com', password: TEST_PASSWORD },
    });
    const token = s.body.access_token as string;
    // Replica B has seen the session active (and caches that answer).
    assert.equal((await api(b, 'GET', '/v1/me', { token })).status, 200);

    assert.equal((await api(a, 'POST', '/v1/auth/logout', { json: { refresh_token: s.body.refresh_token } })).status, 204);
    assert.equal((await api(a, 'GET', '/v1/me', { token })).status, 401, 'refused at once where it was revoked');

    clock.advance(1000);
    const late = await api(b, 'GET', '/v1/me', { token });
    assert.equal(late.status, 401, 'refused by the other replica once 1 s has passed');
    assert.equal(late.body.code, 'invalid_token');
  });
});

describe('password hashing under overload', () => {
  let t: InProcessTestApp;
  before(async () => {
    t = await startTestApp({ env: { ARGON2_MAX_CONCURRENCY: '1', ARGON2_MAX_QUEUE: '1' } });
  });
  after(() => t.close());

  it('answers 503 with Retry-After when the hash queue is full, instead of queueing without bound', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api(t, 'POST', '/v1/auth/login', { json: { email: `nobody${i}@example.com`, password: 'irrelevant password 123' } }),
      ),
    );
    const statuses = attempts.map((r) => r.status);
    assert.ok(statuses.includes(401), `some are served: ${statuses}`);
    const refused = attempts.filter((r) => r.status === 503);
    assert.ok(refused.length >= 1, `some are refused: ${statuses}`);
    for (const r of refused) {
      assert.equal(r.body.code, 'service_unavailable');
      assert.equal(r.headers.get('retry-after'), '1');
    }
  });
});
