import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeClock, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

describe('session lifetime', () => {
  it('a refresh after SESSION_MAX_AGE_SECONDS fails with invalid_refresh_token, however often the session was refreshed', async (t) => {
    const clock = fakeClock();
    const app = await startTestApp({ clock, env: { SESSION_MAX_AGE_SECONDS: '3600', REFRESH_TOKEN_TTL_SECONDS: '600', ACCESS_TOKEN_TTL_SECONDS: '300' } });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    let refresh = user.refresh_token;
    // Refreshed every 500 s — always inside the 600 s idle limit — for as long as the session lives.
    for (let elapsed = 500; elapsed < 3600; elapsed += 500) {
      clock.advance(500_000);
      const res = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: refresh } });
      assert.equal(res.status, 200, `refresh at ${elapsed} s`);
      refresh = res.body.refresh_token;
      const row = await app.deps.db.knex('refresh_tokens').orderBy('created_at', 'desc').first();
      assert.ok(new Date(row.expires_at).getTime() <= new Date(user.user.created_at).getTime() + 3600_000 + 5000, 'no token outlives the session');
    }
    clock.advance(500_000); // 4000 s since login: past the absolute end, though inside the idle limit
    const late = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: refresh } });
    assert.equal(late.status, 401);
    assert.equal(late.body.code, 'invalid_refresh_token');
  });

  it('an idle session ends after REFRESH_TOKEN_TTL_SECONDS', async (t) => {
    const clock = fakeClock();
    const app = await startTestApp({ clock, env: { REFRESH_TOKEN_TTL_SECONDS: '600' } });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    clock.advance(601_000);
    const res = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: user.refresh_token } });
    assert.equal(res.body.code, 'invalid_refresh_token');
  });

  it('the 51st login evicts the least recently used session (audited), keeping the one in use', async (t) => {
    const clock = fakeClock();
    const app = await startTestApp({ clock, env: { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' } });
    t.after(() => app.close());
    const user = await signedUpUser(app);
    const logins = [{ access: user.access_token, refresh: user.refresh_token }];
    for (let i = 1; i < 50; i++) {
      clock.advance(1000);
      const res = await api(app, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password } });
      assert.equal(res.status, 200);
      logins.push({ access: res.body.access_token, refresh: res.body.refresh_token });
    }
    clock.advance(1000);
    // The first session is in use: a refresh makes it the most recently used; the second is now the least.
    const first = await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: logins[0]?.refresh } });
    assert.equal(first.status, 200);
    const active = () => app.deps.db.knex('sessions').where({ user_id: user.user.id }).whereNull('revoked_at').count<{ count: string }[]>('* as count');
    assert.equal(Number((await active())[0]?.count), 50);

    clock.advance(1000);
    const fiftyFirst = await api(app, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password } });
    assert.equal(fiftyFirst.status, 200);
    assert.equal(Number((await active())[0]?.count), 50, 'still 50 active sessions');
    assert.equal((await api(app, 'GET', '/v1/me', { token: logins[1]?.access })).status, 401, 'the least recently used session ended');
    assert.equal((await api(app, 'POST', '/v1/auth/refresh', { json: { refresh_token: logins[1]?.refresh } })).status, 401);
    assert.equal((await api(app, 'GET', '/v1/me', { token: first.body.access_token })).status, 200, 'the session in use survived');
    await app.deps.audit.log.flush();
    const evicted = await app.deps.db.knex('audit_events').where({ user_id: user.user.id, type: 'session_evicted' });
    assert.equal(evicted.length, 1);
    assert.equal(evicted[0].details.max_sessions, 50);
  });
});
