import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { fakeClock, startTestApp, type FakeClock, type InProcessTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';

const STRONG = TEST_PASSWORD;

const signup = (t: InProcessTestApp, email = uniqueEmail(), password = STRONG) => signedUpUser(t, { email, password });

function withoutRequestId(body: Record<string, unknown>) {
  const { request_id: _, ...rest } = body;
  return rest;
}

async function auditTypes(t: InProcessTestApp, userId: string): Promise<string[]> {
  await t.deps.audit.log.flush();
  const rows = await t.deps.db.knex('audit_events').where({ user_id: userId }).orderBy('id');
  return rows.map((r: { type: string }) => r.type);
}

describe('auth flows', () => {
  let t: InProcessTestApp;
  let clock: FakeClock;
  before(async () => {
    clock = fakeClock();
    t = await startTestApp({ clock });
  });
  after(() => t.close());

  describe('signup', () => {
    it('creates the account and answers 201 with a user and a token pair', async () => {
      const s = await signup(t, '  New.User@Example.COM ');
      assert.equal(s.user.email, 'new.user@example.com');
      assert.equal(s.token_type, 'Bearer');
      assert.equal(s.expires_in, 900);
      assert.match(s.refresh_token, /^[A-Za-z0-9_-]{43}$/);
      const me = await api(t, 'GET', '/v1/me', { token: s.access_token });
      assert.equal(me.status, 200);
      // Verification is off here (the default outside production): the address is not verified.
      assert.deepEqual(me.body, { ...s.user, email_verified: false, mfa: { totp: false, webauthn: false } });
      assert.deepEqual(await auditTypes(t, s.user.id), ['signup_succeeded']);
    });

    it('stores an Argon2id hash with the configured parameters, never the password', async () => {
      const s = await signup(t);
      const row = await t.deps.db.knex('users').where({ id: s.user.id }).first();
      assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.ok(!JSON.stringify(row).includes(STRONG));
    });

    it('answers 409 email_taken for the same address in another case or Unicode form', async () => {
      const email = uniqueEmail();
      await signup(t, email);
      const res = await api(t, 'POST', '/v1/auth/signup', { json: { email: email.toUpperCase(), password: STRONG } });
      assert.equal(res.status, 409);
      assert.equal(res.body.code, 'email_taken');
    });

    it('answers 400 invalid_email for an address that is not one', async () => {
      for (const email of ['not-an-email', 'a@b', 'x\u200b@example.com', 'a@@example.com', `${'a'.repeat(250)}@example.com`]) {
        const res = await api(t, 'POST', '/v1/auth/signup', { json: { email, password: STRONG } });
        assert.equal(res.status, 400, email);
        assert.equal(res.body.code, 'invalid_email', email);
      }
    });

    it('answers 400 weak_password with actionable feedback', async () => {
      const email = uniqueEmail();
      for (const password of ['short', 'password1234', `${email.split('@')[0]}`]) {
        const res = await api(t, 'POST', '/v1/auth/signup', { json: { email, password } });
        assert.equal(res.status, 400, password);
        assert.equal(res.body.code, 'weak_password');
        assert.ok(Array.isArray(res.body.feedback.suggestions) && res.body.feedback.suggestions.length > 0);
      }
    });

    it('answers 400 validation_failed naming the fields for a body of the wrong shape', async () => {
      const res = await api(t, 'POST', '/v1/auth/signup', { json: { email: 42 } });
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'validation_failed');
      const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
      assert.deepEqual(fields, ['email', 'password']);
      const extra = await api(t, 'POST', '/v1/auth/signup', { json: { email: uniqueEmail(), password: STRONG, admin: true } });
      assert.equal(extra.status, 400);
      assert.equal(extra.body.code, 'validation_failed');
      const none = await api(t, 'POST', '/v1/auth/signup', { body: '', headers: { 'content-type': 'application/json' } });
      assert.equal(none.status, 400);
    });
  });

  describe('login', () => {
    it('answers 200 with a fresh session for the right password', async () => {
      const s = await signup(t);
      const res = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email.toUpperCase(), password: STRONG } });
      assert.equal(res.status, 200);
      assert.equal(res.body.user.id, s.user.id);
      assert.notEqual(res.body.refresh_token, s.refresh_token);
      assert.deepEqual(await auditTypes(t, s.user.id), ['signup_succeeded', 'login_succeeded']);
    });

    it('gives the same status and body for an unknown email and a wrong password', async () => {
      const s = await signup(t);
      const wrong = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: 'not the password at all' } });
      const unknown = await api(t, 'POST', '/v1/auth/login', { json: { email: uniqueEmail(), password: 'not the password at all' } });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(wrong.body.code, 'invalid_credentials');
      assert.deepEqual(withoutRequestId(wrong.body), withoutRequestId(unknown.body));
      assert.deepEqual(
        [...wrong.headers.keys()].filter((h) => h !== 'date' && h !== 'x-request-id'),
        [...unknown.headers.keys()].filter((h) => h !== 'date' && h !== 'x-request-id'),
      );
    });

    it('upgrades a hash weaker than policy at the next login (m=4096 → m=19456)', async () => {
      const email = uniqueEmail();
      const weak = await argon2Hash(STRONG, { algorithm: 2 /* Argon2id */, memoryCost: 4096, timeCost: 2, parallelism: 1 });
      const [row] = await t.deps.db.knex('users').insert({ email, password_hash: weak }).returning('id');
      const res = await api(t, 'POST', '/v1/auth/login', { json: { email, password: STRONG } });
      assert.equal(res.status, 200);
      const stored = (await t.deps.db.knex('users').where({ id: row.id }).first()).password_hash as string;
      assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.ok(await argon2Verify(stored, STRONG));
      assert.ok((await auditTypes(t, row.id)).includes('password_rehashed'));
      const again = await api(t, 'POST', '/v1/auth/login', { json: { email, password: STRONG } });
      assert.equal(again.status, 200);
    });

    it('refuses a stored hash with absurd parameters without computing it', async () => {
      const email = uniqueEmail();
      const absurd = '$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
      await t.deps.db.knex('users').insert({ email, password_hash: absurd });
      const res = await api(t, 'POST', '/v1/auth/login', { json: { email, password: STRONG } });
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'invalid_credentials');
    });
  });

  describe('refresh', () => {
    it('rotates: the successor works, and the access token it returns is valid', async () => {
      const s = await signup(t);
      const r1 = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      assert.equal(r1.status, 200);
      assert.notEqual(r1.body.refresh_token, s.refresh_token);
      const r2 = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: r1.body.refresh_token } });
      assert.equal(r2.status, 200);
      assert.equal((await api(t, 'GET', '/v1/me', { token: r2.body.access_token })).status, 200);
    });

    it('gives a retry within the grace window the same successor and a fresh access token', async () => {
      const s = await signup(t);
      const first = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      clock.advance(5_000);
      const retry = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.refresh_token, first.body.refresh_token);
      assert.notEqual(retry.body.access_token, first.body.access_token);
    });

    it('never forks the session under 50 concurrent refreshes of one token', async () => {
      const s = await signup(t);
      const results = await Promise.all(
        Array.from({ length: 50 }, () => api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } })),
      );
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
      const successors = new Set(results.map((r) => r.body.refresh_token));
      assert.equal(successors.size, 1, 'exactly one successor');
      const tokens = await t.deps.db.knex('refresh_tokens').join('sessions', 'sessions.id', 'refresh_tokens.session_id').where('sessions.user_id', s.user.id);
      assert.equal(tokens.length, 2, 'the original and one successor are stored');
      const next = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: [...successors][0] } });
      assert.equal(next.status, 200, 'the session is intact');
    });

    it('revokes the whole session when a rotated token comes back after the grace window', async () => {
      const s = await signup(t);
      const rotated = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      clock.advance(11_000);
      const reuse = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      assert.equal(reuse.status, 401);
      assert.equal(reuse.body.code, 'refresh_token_reused');
      // every token descended from that login is dead
      const successor = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: rotated.body.refresh_token } });
      assert.equal(successor.status, 401);
      assert.equal(successor.body.code, 'invalid_refresh_token');
      for (const token of [s.access_token, rotated.body.access_token]) {
        const me = await api(t, 'GET', '/v1/me', { token });
        assert.equal(me.status, 401);
        assert.equal(me.body.code, 'invalid_token');
      }
      assert.ok((await auditTypes(t, s.user.id)).includes('refresh_token_reused'));
    });

    it('answers 401 invalid_refresh_token for unknown, malformed and expired tokens', async () => {
      for (const refresh_token of ['x', 'A'.repeat(43), '', 'eyJhbGciOiJIUzI1NiJ9.e30.x']) {
        const res = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token } });
        assert.equal(res.status, 401, refresh_token);
        assert.equal(res.body.code, 'invalid_refresh_token');
      }
      const s = await signup(t);
      clock.advance(31 * 24 * 3600 * 1000);
      const expired = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      clock.advance(-31 * 24 * 3600 * 1000);
      assert.equal(expired.status, 401);
      assert.equal(expired.body.code, 'invalid_refresh_token');
    });
  });

  describe('logout and sessions', () => {
    it('logout revokes the session: its access and refresh tokens are refused at once', async () => {
      const s = await signup(t);
      assert.equal((await api(t, 'GET', '/v1/me', { token: s.access_token })).status, 200);
      const out = await api(t, 'POST', '/v1/auth/logout', { json: { refresh_token: s.refresh_token } });
      assert.equal(out.status, 204);
      const me = await api(t, 'GET', '/v1/me', { token: s.access_token });
      assert.equal(me.status, 401);
      assert.equal(me.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      const refresh = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: s.refresh_token } });
      assert.equal(refresh.body.code, 'invalid_refresh_token');
      assert.ok((await auditTypes(t, s.user.id)).includes('logout'));
    });

    it('logout answers 204 for an unknown token too', async () => {
      const res = await api(t, 'POST', '/v1/auth/logout', { json: { refresh_token: 'B'.repeat(43) } });
      assert.equal(res.status, 204);
    });

    it('lists the sessions with the current one marked, and revokes another device', async () => {
      const s = await signup(t);
      const second = await api(t, 'POST', '/v1/auth/login', {
        json: { email: s.email, password: STRONG },
        headers: { 'user-agent': 'second-device/1.0' },
      });
      const list = await api(t, 'GET', '/v1/auth/sessions', { token: s.access_token });
      assert.equal(list.status, 200);
      assert.equal(list.body.items.length, 2);
      const current = list.body.items.filter((i: { current: boolean }) => i.current);
      assert.equal(current.length, 1);
      const other = list.body.items.find((i: { current: boolean }) => !i.current);
      assert.equal(other.user_agent, 'second-device/1.0');
      assert.equal(other.ip, '127.0.0.1');
      const del = await api(t, 'DELETE', `/v1/auth/sessions/${other.id}`, { token: s.access_token });
      assert.equal(del.status, 204);
      assert.equal((await api(t, 'GET', '/v1/me', { token: second.body.access_token })).status, 401);
      assert.equal((await api(t, 'GET', '/v1/me', { token: s.access_token })).status, 200);
      const again = await api(t, 'DELETE', `/v1/auth/sessions/${other.id}`, { token: s.access_token });
      assert.equal(again.status, 404);
    });

    it("answers 404 for another user's session, exactly as for a missing one", async () => {
      const a = await signup(t);
      const b = await signup(t);
      const bSessions = await api(t, 'GET', '/v1/auth/sessions', { token: b.access_token });
      const theirs = await api(t, 'DELETE', `/v1/auth/sessions/${bSessions.body.items[0].id}`, { token: a.access_token });
      const missing = await api(t, 'DELETE', '/v1/auth/sessions/00000000-0000-4000-8000-000000000000', { token: a.access_token });
      const garbage = await api(t, 'DELETE', '/v1/auth/sessions/not-a-uuid', { token: a.access_token });
      for (const res of [theirs, missing, garbage]) {
        assert.equal(res.status, 404);
        assert.equal(res.body.code, 'not_found');
      }
      assert.deepEqual(withoutRequestId(theirs.body), withoutRequestId(missing.body));
      assert.equal((await api(t, 'GET', '/v1/me', { token: b.access_token })).status, 200);
    });

    it('logout-all revokes every session of the user', async () => {
      const s = await signup(t);
      const other = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: STRONG } });
      const res = await api(t, 'POST', '/v1/auth/logout-all', { token: s.access_token });
      assert.equal(res.status, 204);
      for (const token of [s.access_token, other.body.access_token]) {
        assert.equal((await api(t, 'GET', '/v1/me', { token })).status, 401);
      }
      assert.ok((await auditTypes(t, s.user.id)).includes('logout_all'));
    });
  });

  describe('password change', () => {
    it('refuses a wrong current password with 401 and a weak new one with 400', async () => {
      const s = await signup(t);
      const wrong = await api(t, 'POST', '/v1/auth/password', {
        token: s.access_token,
        json: { current_password: 'nope nope nope nope', new_password: 'another strong passphrase 77' },
      });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.code, 'invalid_credentials');
      const weak = await api(t, 'POST', '/v1/auth/password', {
        token: s.access_token,
        json: { current_password: STRONG, new_password: 'password1234' },
      });
      assert.equal(weak.status, 400);
      assert.equal(weak.body.code, 'weak_password');
    });

    it('changes the password and revokes every other session, keeping this one with a fresh token pair', async () => {
      const s = await signup(t);
      const other = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: STRONG } });
      const next = 'a brand new passphrase for 2027';
      const res = await api(t, 'POST', '/v1/auth/password', {
        token: s.access_token,
        json: { current_password: STRONG, new_password: next },
      });
      assert.equal(res.status, 200);
      assert.equal((await api(t, 'GET', '/v1/me', { token: s.access_token })).status, 200);
      assert.equal((await api(t, 'GET', '/v1/me', { token: res.body.access_token })).status, 200);
      const refreshed = await api(t, 'POST', '/v1/auth/refresh', { json: { refresh_token: res.body.refresh_token } });
      assert.equal(refreshed.status, 200, 'the new refresh token continues this session');
      assert.equal((await api(t, 'GET', '/v1/me', { token: other.body.access_token })).status, 401);
      const oldLogin = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: STRONG } });
      assert.equal(oldLogin.status, 401);
      const newLogin = await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: next } });
      assert.equal(newLogin.status, 200);
      assert.ok((await auditTypes(t, s.user.id)).includes('password_changed'));
    });
  });

  describe('authenticated routes', () => {
    it('answer 401 invalid_token with WWW-Authenticate when the token is missing or malformed', async () => {
      for (const authorization of [undefined, 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'bearer x.y.z']) {
        const res = await api(t, 'GET', '/v1/me', { headers: authorization ? { authorization } : {} });
        assert.equal(res.status, 401);
        assert.equal(res.body.code, 'invalid_token');
        assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      }
    });

    it('refuses an access token after its expiry (beyond the 30 s skew)', async () => {
      const s = await signup(t);
      clock.advance(900_000 + 20_000);
      assert.equal((await api(t, 'GET', '/v1/me', { token: s.access_token })).status, 200, 'within skew');
      clock.advance(15_000);
      const late = await api(t, 'GET', '/v1/me', { token: s.access_token });
      clock.advance(-935_000);
      assert.equal(late.status, 401);
    });

    it('publishes no keys at /.well-known/jwks.json for HS256', async () => {
      const res = await api(t, 'GET', '/.well-known/jwks.json');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { keys: [] });
    });
  });

  describe('metrics and audit', () => {
    it('counts successes and failures by flow and reason', async () => {
      const text = await t.deps.metrics.registry.metrics();
      assert.match(text, /auth_success_total\{flow="signup"\} \d+/);
      assert.match(text, /auth_success_total\{flow="login"\} \d+/);
      assert.match(text, /auth_fail_total\{flow="login",reason="invalid_credentials"\} \d+/);
      assert.match(text, /auth_fail_total\{flow="refresh",reason="refresh_token_reused"\} \d+/);
    });

    it('writes one row per failure key per minute and a summary with the repeats', async () => {
      const s = await signup(t);
      for (let i = 0; i < 5; i++) {
        await api(t, 'POST', '/v1/auth/login', { json: { email: s.email, password: `wrong password ${i}` } });
      }
      await t.deps.audit.log.flush();
      const rows = await t.deps.db.knex('audit_events').where({ user_id: s.user.id, type: 'login_failed' }).orderBy('id');
      assert.equal(rows.length, 2, 'the first failure and one summary');
      assert.equal(rows[1].details.repeats, 4);
      assert.ok(rows.every((r: { email_hash: string }) => /^[0-9a-f]{64}$/.test(r.email_hash)));
      assert.ok(rows.every((r: { request_id: string | null; ip: string }) => r.ip === '127.0.0.1'));
    });
  });
});
