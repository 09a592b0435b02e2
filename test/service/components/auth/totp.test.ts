import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate } from 'otplib';
import { api } from '../../../helpers/client.js';
import { type AccountWorld, accountWorld, verifiedAccount } from './account-fixture.js';

/**
 * TOTP end to end (issue 20; ASVS 6.5.x, 6.6.x): enrol, confirm, the two-step login, replay and the
 * ±1-step window, recovery codes, step-up and turning it off — on a clock the test moves.
 */

const TRUSTED = { TRUSTED_PROXIES: '127.0.0.0/8' };
const from = (ip: string) => ({ 'x-forwarded-for': ip });

function claims(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8'));
}

/** The code an authenticator app shows at the world's time, `steps` periods away. */
async function codeAt(w: AccountWorld, secret: string, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(w.clock.now().getTime() / 1000) + steps * 30 });
}

/** A verified account with TOTP on: its secret and recovery codes. */
async function withTotp(w: AccountWorld) {
  const a = await verifiedAccount(w);
  const enrol = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: a.access, headers: from('203.0.113.10') });
  assert.equal(enrol.status, 200, enrol.text);
  const secret = enrol.body.secret as string;
  assert.match(enrol.body.otpauth_uri, /^otpauth:\/\/totp\/.*secret=/);
  const confirm = await api(w.app, 'POST', '/v1/auth/mfa/totp/confirm', { token: a.access, json: { code: await codeAt(w, secret) }, headers: from('203.0.113.10') });
  assert.equal(confirm.status, 200, confirm.text);
  w.clock.advance(30_000); // the confirming code's step is spent
  return { ...a, secret, recoveryCodes: confirm.body.recovery_codes as string[] };
}

async function passwordStep(w: AccountWorld, a: { email: string; password: string }, ip = '203.0.113.10', deviceToken?: string) {
  const res = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password, ...(deviceToken ? { device_token: deviceToken } : {}) }, headers: from(ip) });
  assert.equal(res.status, 200, res.text);
  return res.body as { mfa_required: true; mfa_token: string; methods: string[] };
}

describe('TOTP (RFC 6238) end to end', () => {
  it('enrol → confirm → the login asks for the second factor; a right code gives tokens whose amr says pwd+otp+mfa; the same code is refused the second time', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    assert.equal(a.recoveryCodes.length, 10);
    assert.ok(a.recoveryCodes.every((c) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/.test(c)), 'six groups of four: 120 bits');
    const stored = await w.database.db.knex('mfa_totp').where({ user_id: a.userId }).first();
    assert.ok(!Buffer.from(stored.secret_ciphertext).toString('latin1').includes(a.secret), 'the secret is encrypted at rest');
    assert.ok((await w.mailTo(a.email, 'Your sign-in settings changed')).text.includes('TOTP'), 'a notice is mailed when a factor is bound');

    const step = await passwordStep(w, a);
    assert.equal(step.mfa_required, true);
    assert.deepEqual(step.methods, ['totp', 'recovery_code']);
    assert.ok(!('access_token' in step), 'no tokens before the second factor');

    const code = await codeAt(w, a.secret);
    const ok = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code }, headers: from('203.0.113.10') });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(claims(ok.body.access_token).amr, ['pwd', 'otp', 'mfa']);
    assert.equal((await api(w.app, 'GET', '/v1/me', { token: ok.body.access_token })).body.mfa.totp, true);

    // Replay: the same code, in the same window, on a fresh login.
    const again = await passwordStep(w, a);
    const replay = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: again.mfa_token, code }, headers: from('203.0.113.10') });
    assert.deepEqual([replay.status, replay.body.code], [400, 'invalid_code']);
    // The MFA token is single use: it already served one sign-in.
    const reused = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret, 1) }, headers: from('203.0.113.10') });
    assert.deepEqual([reused.status, reused.body.code], [401, 'invalid_mfa_token']);
  });

  it('the window is one step either way: the previous and next codes pass, two steps off fails', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const verify = async (steps: number) => {
      const step = await passwordStep(w, a);
      return (await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret, steps) }, headers: from('203.0.113.10') })).status;
    };
    w.clock.advance(60_000); // two steps past the confirming code: every step from here on is unused
    assert.equal(await verify(-2), 400, 'two steps behind');
    assert.equal(await verify(2), 400, 'two steps ahead');
    assert.equal(await verify(-1), 200, 'one step behind (the clock of the phone is slow)');
    w.clock.advance(60_000);
    assert.equal(await verify(1), 200, 'one step ahead');
    // A code older than the newest accepted one is refused even inside the window.
    assert.equal(await verify(0), 400, 'the step before the accepted one');
  });

  it('the MFA token is bound to the client that passed the password, and expires after 5 minutes', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const step = await passwordStep(w, a, '203.0.113.10');
    const elsewhere = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret) }, headers: from('198.51.100.99') });
    assert.deepEqual([elsewhere.status, elsewhere.body.code], [401, 'invalid_mfa_token']);
    const otherDevice = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret), device_token: 'A'.repeat(43) }, headers: from('203.0.113.10') });
    assert.equal(otherDevice.status, 401);
    w.clock.advance(301_000);
    const late = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret) }, headers: from('203.0.113.10') });
    assert.deepEqual([late.status, late.body.code], [401, 'invalid_mfa_token']);
    const garbage = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: 'x', code: '123456' } });
    assert.equal(garbage.status, 401);
    const both = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: '123456', recovery_code: 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA' } });
    assert.deepEqual([both.status, both.body.code], [400, 'validation_failed']);
  });

  it('recovery codes: each signs in once, is audited and mailed; regenerating kills the old set', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const [first, second] = a.recoveryCodes as [string, string];
    const use = async (recovery_code: string) => {
      const step = await passwordStep(w, a);
      return api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, recovery_code }, headers: from('203.0.113.10') });
    };
    const ok = await use(first.toLowerCase().replace(/-/g, ' '));
    assert.equal(ok.status, 200, 'typed loosely: lower case, spaces');
    assert.deepEqual(claims(ok.body.access_token).amr, ['pwd', 'mfa']);
    assert.equal((await use(first)).status, 400, 'a used code is spent');
    assert.ok((await w.mailTo(a.email, 'Your sign-in settings changed')) !== undefined);
    await w.app.deps.audit.log.flush();
    const used = await w.database.db.knex('audit_events').where({ user_id: a.userId, type: 'mfa_recovery_code_used' });
    assert.equal(used.length, 1);
    assert.equal(used[0].details.remaining, 9);

    // Regeneration needs a recent authentication — the login above was one.
    const fresh = await api(w.app, 'POST', '/v1/auth/mfa/recovery-codes', { token: ok.body.access_token });
    assert.equal(fresh.status, 200, fresh.text);
    assert.equal((await use(second)).status, 400, 'the old set no longer works');
    assert.equal((await use(fresh.body.recovery_codes[0])).status, 200);
  });

  it('step-up needs the second factor too; turning TOTP off needs a recent authentication and then the password alone signs in', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const step = await passwordStep(w, a);
    const signedIn = await api(w.app, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: step.mfa_token, code: await codeAt(w, a.secret) }, headers: from('203.0.113.10') });
    w.clock.advance(301_000);
    const stale = await api(w.app, 'DELETE', '/v1/auth/mfa/totp', { token: signedIn.body.access_token });
    assert.deepEqual([stale.status, stale.body.code], [401, 'reauthentication_required']);
    const passwordOnly = await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: signedIn.body.access_token, json: { password: a.password }, headers: from('203.0.113.10') });
    assert.deepEqual([passwordOnly.status, passwordOnly.body.code], [401, 'second_factor_required']);
    const stepUp = await api(w.app, 'POST', '/v1/auth/reauthenticate', { token: signedIn.body.access_token, json: { password: a.password, code: await codeAt(w, a.secret) }, headers: from('203.0.113.10') });
    assert.equal(stepUp.status, 200, stepUp.text);
    assert.deepEqual(claims(stepUp.body.access_token).amr, ['pwd', 'otp', 'mfa']);
    const off = await api(w.app, 'DELETE', '/v1/auth/mfa/totp', { token: stepUp.body.access_token });
    assert.equal(off.status, 204);
    const plain = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password } });
    assert.ok(plain.body.access_token, 'tokens at once');
    assert.equal(await w.database.db.knex('mfa_recovery_codes').where({ user_id: a.userId }).count('* as n').first().then((r) => Number(r?.n)), 0);
  });

  it('enrolment needs a recent authentication, cannot replace a confirmed TOTP, and a wrong first code is refused', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const twice = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: a.access });
    assert.deepEqual([twice.status, twice.body.code], [409, 'mfa_already_enabled']);
    const b = await verifiedAccount(w);
    const enrol = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: b.access });
    const wrong = await api(w.app, 'POST', '/v1/auth/mfa/totp/confirm', { token: b.access, json: { code: '000000' } });
    assert.deepEqual([wrong.status, wrong.body.code], [400, 'invalid_code']);
    assert.equal((await api(w.app, 'POST', '/v1/auth/login', { json: { email: b.email, password: b.password } })).body.access_token !== undefined, true, 'pending TOTP does not guard the login');
    assert.ok(enrol.body.secret);
    w.clock.advance(301_000);
    const stale = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: b.access });
    assert.deepEqual([stale.status, stale.body.code], [401, 'reauthentication_required']);
  });
});
