/**
 * Second factors around account recovery (ASVS 5.0 6.4.3, 6.5.2): a password reset does not get past
 * an enabled second factor, and recovery codes (120 bits) are kept only as SHA-256 hashes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate } from 'otplib';
import { hashRecoveryCode, normalizeRecoveryCode } from '../../../../service/src/components/auth/mfa/recovery-codes.js';
import { api } from '../../../helpers/client.js';
import { type AccountWorld, accountWorld, verifiedAccount } from './account-fixture.js';

const TRUSTED = { TRUSTED_PROXIES: '127.0.0.0/8' };
const from = { 'x-forwarded-for': '203.0.113.20' };
const NEW_PASSWORD = 'a brand new passphrase for 2027';

const codeAt = (w: AccountWorld, secret: string) => generate({ secret, epoch: Math.floor(w.clock.now().getTime() / 1000) });

async function withTotp(w: AccountWorld) {
  const a = await verifiedAccount(w);
  const enrol = await api(w.app, 'POST', '/v1/auth/mfa/totp', { token: a.access, headers: from });
  assert.equal(enrol.status, 200, enrol.text);
  const confirm = await api(w.app, 'POST', '/v1/auth/mfa/totp/confirm', {
    token: a.access,
    json: { code: await codeAt(w, enrol.body.secret) },
    headers: from,
  });
  assert.equal(confirm.status, 200, confirm.text);
  w.clock.advance(30_000); // the confirming code's step is spent
  return { ...a, secret: enrol.body.secret as string, recoveryCodes: confirm.body.recovery_codes as string[] };
}

describe('second factors and account recovery', () => {
  it('a password reset leaves the second factor in force: the next login still asks for it', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    assert.equal((await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email }, headers: from })).status, 202);
    const token = w.token(await w.mailTo(a.email, 'Reset your password'), 'reset-password');
    const done = await api(w.app, 'POST', '/v1/auth/password-reset/confirm', {
      json: { token, new_password: NEW_PASSWORD },
      headers: from,
    });
    assert.equal(done.status, 204, done.text);
    assert.equal(done.text, '', 'the reset signs nobody in');

    const login = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: NEW_PASSWORD }, headers: from });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.body.mfa_required, true, 'the new password alone is not enough');
    assert.equal(login.body.access_token, undefined);
    assert.equal(login.body.refresh_token, undefined);
    const wrong = await api(w.app, 'POST', '/v1/auth/mfa/verify', {
      json: { mfa_token: login.body.mfa_token, code: '000000' },
      headers: from,
    });
    assert.equal(wrong.status, 400);
    const verified = await api(w.app, 'POST', '/v1/auth/mfa/verify', {
      json: { mfa_token: login.body.mfa_token, code: await codeAt(w, a.secret) },
      headers: from,
    });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(
      (await api(w.app, 'GET', '/v1/me', { token: verified.body.access_token })).body.mfa.totp,
      true,
      'TOTP is still on',
    );
  });

  it('a password proved on an account with a second factor is audited as mfa_challenge_issued, a wrong one as login_failed (what runbooks/lost-second-factor.md checks)', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const wrong = await api(w.app, 'POST', '/v1/auth/login', {
      json: { email: a.email, password: 'not the password at all 99' },
      headers: from,
    });
    assert.equal(wrong.status, 401);
    const right = await api(w.app, 'POST', '/v1/auth/login', { json: { email: a.email, password: a.password }, headers: from });
    assert.equal(right.body.mfa_required, true);
    await w.app.deps.audit.log.flush();
    const rows = await w.database.db
      .knex('audit_events')
      .where({ user_id: a.userId })
      .whereIn('type', ['mfa_challenge_issued', 'login_failed'])
      .orderBy('id');
    assert.deepEqual(
      rows.map((r) => r.type),
      ['login_failed', 'mfa_challenge_issued'],
      'one challenge, for the right password only',
    );
  });

  it('recovery codes are stored only as SHA-256 hashes, never as the codes', async (t) => {
    const w = await accountWorld(t, TRUSTED);
    const a = await withTotp(w);
    const rows = await w.database.db.knex('mfa_recovery_codes').where({ user_id: a.userId });
    assert.equal(rows.length, 10);
    const dump = JSON.stringify(rows) + rows.map((r) => Buffer.from(r.code_hash).toString('latin1')).join('');
    for (const code of a.recoveryCodes) {
      const normalized = normalizeRecoveryCode(code)!;
      assert.ok(!dump.includes(normalized) && !dump.includes(code), 'no code is stored as it is');
    }
    for (const row of rows) assert.equal(Buffer.from(row.code_hash).length, 32, 'a 256-bit digest');
    assert.deepEqual(
      rows.map((r) => Buffer.from(r.code_hash).toString('hex')).sort(),
      a.recoveryCodes.map((c) => hashRecoveryCode(normalizeRecoveryCode(c)!).toString('hex')).sort(),
      'each row is the SHA-256 of one code',
    );
  });
});
