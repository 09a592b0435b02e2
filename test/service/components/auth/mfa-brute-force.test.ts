import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generate } from 'otplib';
import { startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { testRedisUrl } from '../../../helpers/services.js';
import { accountWorld, verifiedAccount } from './account-fixture.js';
import { redisKeyPrefix } from '../../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('mfa-bf');

/**
 * A 6-digit code has a million values: guessing must stop long before that, on every replica (the
 * counters live in Redis). Per (account, address) the backoff of LOGIN_MAX_FAILURES; per account,
 * MFA_ACCOUNT_MAX_FAILURES_PER_HOUR from all addresses; the right code waits out a lock too.
 */
const redisUrl = testRedisUrl();
const from = (ip: string) => ({ 'x-forwarded-for': ip });

describe('second-factor guessing is bounded across replicas', { skip: !redisUrl && 'needs Redis (TEST_REDIS_URL) shared by two replicas' }, () => {
  async function twoReplicas(t: Parameters<typeof accountWorld>[0], extra: Record<string, string>) {
    const env = { REDIS_URL: redisUrl as string, REDIS_KEY_PREFIX: `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}`, TRUSTED_PROXIES: '127.0.0.0/8', LOGIN_MAX_FAILURES: '5', ...extra };
    const w = await accountWorld(t, env);
    const replica = await startTestApp({ database: w.database, clock: w.clock, env: { ...env, MAIL_URL: w.smtp.mailUrl, MAIL_CA_FILE: w.smtp.caFile } });
    t.after(() => replica.close());
    await Promise.all([redisReady(w.app.deps.redis), redisReady(replica.deps.redis)]);
    const a = await verifiedAccount(w);
    const enrol = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: a.access });
    const secret = enrol.body.secret as string;
    const now = () => Math.floor(w.clock.now().getTime() / 1000);
    await api(w.app, 'POST', '/v1/auth/mfa/totp/confirm', { token: a.access, json: { code: await generate({ secret, epoch: now() }) } });
    w.clock.advance(30_000);
    return { w, replica, a, secret, now };
  }

  it('from one address: LOGIN_MAX_FAILURES wrong codes, alternating replicas, then 429 — even for the right code', async (t) => {
    const { w, replica, a, secret, now } = await twoReplicas(t, {});
    const login = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password }, headers: from('203.0.113.7') });
    const token = login.body.mfa_token as string;
    const right = await generate({ secret, epoch: now() });
    const wrong = (i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const app = i % 2 === 0 ? w.app : replica;
      statuses.push((await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: token, code: wrong(i) }, headers: from('203.0.113.7') })).status);
    }
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429, 429]);
    const locked = await api(replica, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: token, code: right }, headers: from('203.0.113.7') });
    assert.deepEqual([locked.status, locked.body.code], [429, 'too_many_attempts'], 'the right code waits out the lock');
    await w.app.deps.audit.log.flush();
    await replica.deps.audit.log.flush();
    const failed = await w.database.db.knex('audit_events').where({ user_id: a.userId, type: 'mfa_failed' }).count('* as n').first();
    assert.ok(Number(failed?.n) >= 1, 'guesses are audited');
    const metric = [...((await w.app.deps.metrics.registry.getSingleMetric('mfa_challenges_total')?.get())?.values ?? []), ...((await replica.deps.metrics.registry.getSingleMetric('mfa_challenges_total')?.get())?.values ?? [])];
    assert.equal(metric.filter((v) => v.labels.outcome === 'failure').reduce((n, v) => n + v.value, 0), 5);
    assert.ok(metric.some((v) => v.labels.outcome === 'locked' && v.value > 0));
  });

  it('from many addresses: the account stops every second-factor attempt after MFA_ACCOUNT_MAX_FAILURES_PER_HOUR guesses', async (t) => {
    const { w, replica, a, secret, now } = await twoReplicas(t, { MFA_ACCOUNT_MAX_FAILURES_PER_HOUR: '6' });
    // The owner signed in from this device before the attack: it holds a device token.
    const ownerLogin = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password }, headers: from('192.0.2.1') });
    const owner = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: ownerLogin.body.mfa_token, code: await generate({ secret, epoch: now() }) }, headers: from('192.0.2.1') });
    assert.equal(owner.status, 200, owner.text);
    const deviceToken = owner.body.device_token as string;
    w.clock.advance(30_000);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const ip = `198.51.100.${i + 1}`;
      const app = i % 2 === 0 ? w.app : replica;
      const login = await api(app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password }, headers: from(ip) });
      statuses.push((await api(app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: login.body.mfa_token, code: '000000' }, headers: from(ip) })).status);
    }
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 400, 429, 429, 429, 429]);
    // A fresh address with the right code is refused too while the hour's cap is spent…
    const login = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password }, headers: from('192.0.2.200') });
    const refused = await api(replica, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: login.body.mfa_token, code: await generate({ secret, epoch: now() }) }, headers: from('192.0.2.200') });
    assert.equal(refused.status, 429);
    // …but the owner's known device is judged by its own backoff only (device-aware, as the password step).
    const known = await api(replica, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password, device_token: deviceToken }, headers: from('192.0.2.1') });
    const signedIn = await api(w.app, 'POST', '/v1/auth/mfa/verify', {
      json: { mfa_token: known.body.mfa_token, code: await generate({ secret, epoch: now() }), device_token: deviceToken },
      headers: from('192.0.2.1'),
    });
    assert.equal(signedIn.status, 200, signedIn.text);
  });
});
