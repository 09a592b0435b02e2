import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

/** Cheap hashes (refused in production, fine here): 200 logins must not take minutes. */
const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1', TRUSTED_PROXIES: '127.0.0.0/8' };

const from = (ip: string) => ({ 'x-forwarded-for': ip });

describe('device-aware lockout (OWASP device cookies)', () => {
  it('200 failed logins from 40 addresses cannot lock the owner out: the known device signs in at once, an unknown device is refused', async (t) => {
    const app = await startTestApp({ env: FAST });
    t.after(() => app.close());
    const owner = await signedUpUser(app);
    const deviceToken = (owner as { device_token?: string }).device_token;
    assert.match(deviceToken ?? '', /^[A-Za-z0-9_-]{43}$/, 'signup hands out a device token');

    const statuses = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const res = await api(app, 'POST', '/v1/auth/login', { headers: from(`203.0.113.${i % 40}`), json: { email: owner.email, password: `attacker guess ${i}` } });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    assert.deepEqual([...statuses.keys()].sort(), [401, 429], 'the attack was refused, and then locked out');

    const known = await api(app, 'POST', '/v1/auth/login', { headers: from('198.51.100.7'), json: { email: owner.email, password: owner.password, device_token: deviceToken } });
    assert.equal(known.status, 200, known.text);
    assert.equal(known.body.device_token, deviceToken, 'a known device keeps its token');

    const unknown = await api(app, 'POST', '/v1/auth/login', { headers: from('198.51.100.8'), json: { email: owner.email, password: owner.password } });
    assert.equal(unknown.status, 429);
    assert.equal(unknown.body.code, 'too_many_attempts');
    const forged = await api(app, 'POST', '/v1/auth/login', { headers: from('198.51.100.9'), json: { email: owner.email, password: owner.password, device_token: 'A'.repeat(43) } });
    assert.equal(forged.status, 429, 'a token that is not one of the account’s devices counts as unknown');

    await app.deps.audit.log.flush();
    const refused = await app.deps.db.knex('audit_events').where({ user_id: owner.user.id, type: 'login_refused_locked' });
    assert.ok(refused.some((e: { details: { limiter: string } }) => e.details.limiter === 'account'), 'the audit says which limiter refused');
    const fails = (await app.deps.metrics.registry.getSingleMetric('auth_fail_total')?.get())?.values ?? [];
    assert.ok(fails.some((v) => v.labels.reason === 'locked_out_account' && v.value > 0));
  });

  it('a known device has its own backoff: its wrong passwords lock it, not the account or the owner’s other devices', async (t) => {
    const app = await startTestApp({ env: { ...FAST, LOGIN_MAX_FAILURES: '3', LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: '3' } });
    t.after(() => app.close());
    const owner = await signedUpUser(app);
    const laptop = (owner as { device_token?: string }).device_token as string;
    const phoneLogin = await api(app, 'POST', '/v1/auth/login', { headers: from('192.0.2.20'), json: { email: owner.email, password: owner.password } });
    const phone = phoneLogin.body.device_token as string;
    assert.notEqual(phone, laptop, 'a new device gets a token of its own');

    const statuses = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await api(app, 'POST', '/v1/auth/login', { headers: from('192.0.2.10'), json: { email: owner.email, password: `typo ${i}`, device_token: laptop } })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429], 'locked after LOGIN_MAX_FAILURES');
    const laptopRight = await api(app, 'POST', '/v1/auth/login', { headers: from('192.0.2.10'), json: { email: owner.email, password: owner.password, device_token: laptop } });
    assert.equal(laptopRight.status, 429, 'while locked, even the right password waits');
    const phoneRight = await api(app, 'POST', '/v1/auth/login', { headers: from('192.0.2.10'), json: { email: owner.email, password: owner.password, device_token: phone } });
    assert.equal(phoneRight.status, 200, 'another known device, from the same address, is unaffected');
    const stranger = await api(app, 'POST', '/v1/auth/login', { headers: from('192.0.2.30'), json: { email: owner.email, password: owner.password } });
    assert.equal(stranger.status, 200, 'the device’s failures did not count against the account');
  });

  it('password change is no guessing oracle: a thief with an access token is locked out and audited; the owner’s known device is not', async (t) => {
    const app = await startTestApp({ env: FAST });
    t.after(() => app.close());
    const owner = await signedUpUser(app);
    const device = (owner as { device_token?: string }).device_token as string;
    const statuses = [];
    for (let i = 0; i < 40; i++) {
      const res = await api(app, 'POST', '/v1/auth/password', {
        token: owner.access_token,
        headers: from('203.0.113.99'),
        json: { current_password: `stolen token guess ${i}`, new_password: 'a new passphrase for 2027' },
      });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(statuses.slice(5).every((s) => s === 429), `locked after LOGIN_MAX_FAILURES: ${statuses}`);
    await app.deps.audit.log.flush();
    const audited = await app.deps.db.knex('audit_events').where({ user_id: owner.user.id, type: 'login_failed' });
    assert.ok(audited.some((e: { details: { flow?: string } }) => e.details.flow === 'password_change'), 'each wrong guess is audited');

    const mine = await api(app, 'POST', '/v1/auth/password', {
      token: owner.access_token,
      headers: from('203.0.113.99'),
      json: { current_password: owner.password, new_password: 'a new passphrase for 2027', device_token: device },
    });
    assert.equal(mine.status, 200, 'the owner, from a known device on the same address, changes the password');
  });
});
