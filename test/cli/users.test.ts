import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashEmail } from '../../service/src/components/audit/index.js';
import type { FakeClock, InProcessTestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import type { TestDatabase } from '../helpers/database.js';
import { signedUpUser, uniqueEmail } from '../helpers/users.js';
import { AUDIT_KEY, auditRows, secops, type TwoReplicas, twoReplicas } from './operator-fixture.js';

describe('secops users', () => {
  let database: TestDatabase;
  let clockB: FakeClock;
  let a: InProcessTestApp;
  let b: InProcessTestApp;
  let replicas: TwoReplicas;
  before(async () => {
    replicas = await twoReplicas();
    ({ database, clockB, a, b } = replicas);
  });
  after(() => replicas.close());
  const cli = (argv: string[], env?: Record<string, string | undefined>) => secops(database.db, argv, env);

  /** Second factors as the MFA flows leave them, written directly: a confirmed TOTP, 3 recovery codes (one used), one passkey. */
  async function enrolSecondFactors(userId: string): Promise<void> {
    const knex = database.db.knex;
    await knex('mfa_totp').insert({ user_id: userId, secret_ciphertext: randomBytes(48), key_id: 'test', confirmed_at: new Date() });
    await knex('mfa_recovery_codes').insert(
      [0, 1, 2].map((i) => ({ user_id: userId, code_hash: randomBytes(32), used_at: i === 0 ? new Date() : null })),
    );
    await knex('webauthn_credentials').insert({
      user_id: userId,
      credential_id: randomBytes(16).toString('base64url'),
      public_key: randomBytes(65),
      device_type: 'multiDevice',
      name: 'YubiKey',
    });
  }
  const factorRows = async (userId: string) => {
    const knex = database.db.knex;
    const count = async (table: string) => Number((await knex(table).where({ user_id: userId }).count({ n: '*' }))[0]?.n);
    return { totp: await count('mfa_totp'), recovery_codes: await count('mfa_recovery_codes'), passkeys: await count('webauthn_credentials') };
  };

  it('disable: the next request on another replica is refused within 1 s, login is 403 account_disabled, enable lets them back', async () => {
    const u = await signedUpUser(a, { tag: 'disable' });
    const token = u.access_token;
    assert.equal((await api(b, 'GET', '/v1/me', { token })).status, 200, 'replica B has seen the session active');

    const r = await cli(['users', 'disable', '--email', u.email.toUpperCase(), '--reason', 'account takeover SEC-42']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is disabled/);
    assert.match(r.stdout, /1 session\(s\) revoked/);

    clockB.advance(1001);
    const late = await api(b, 'GET', '/v1/me', { token });
    assert.equal(late.status, 401, 'refused by the other replica once the bound has passed');
    assert.equal(late.body.code, 'invalid_token');

    const login = await api(a, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(login.status, 403, login.text);
    assert.equal(login.body.code, 'account_disabled');
    const refresh = await api(a, 'POST', '/v1/auth/refresh', { json: { refresh_token: u.refresh_token } });
    assert.notEqual(refresh.status, 200);

    const [row] = await auditRows(database.db, 'operator_user_disabled');
    assert.ok(row);
    assert.equal(row.user_id, u.user.id);
    assert.equal(row.email_hash, hashEmail(u.email, Buffer.from(AUDIT_KEY, 'base64url')), 'hashed with the service’s key');
    assert.equal(row.details.operator, 'oncall-olga');
    assert.equal(row.details.reason, 'account takeover SEC-42');
    assert.equal(row.details.sessions_revoked, 1);

    const shown = await cli(['--json', 'users', 'show', '--email', u.email]);
    assert.equal(shown.code, 0, shown.stderr);
    const doc = JSON.parse(shown.stdout);
    assert.equal(doc.id, u.user.id);
    assert.equal(doc.disabled_reason, 'account takeover SEC-42');
    assert.equal(doc.active_sessions, 0);
    assert.ok(doc.disabled_at);

    const enabled = await cli(['--json', 'users', 'enable', '--email', u.email, '--reason', 'owner verified', '--operator', 'sam']);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.equal(JSON.parse(enabled.stdout).was_disabled, true);
    const back = await api(a, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(back.status, 200, back.text);
    assert.equal((await api(b, 'GET', '/v1/me', { token: back.body.access_token })).status, 200);
    const [enableRow] = await auditRows(database.db, 'operator_user_enabled');
    assert.equal(enableRow?.details.operator, 'sam');
    assert.equal(enableRow?.details.reason, 'owner verified');
  });

  it('revoke-sessions ends every session of the user, and only theirs', async () => {
    const u = await signedUpUser(a, { tag: 'revoke' });
    const second = await api(a, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(second.status, 200, second.text);
    const bystander = await signedUpUser(a, { tag: 'bystander' });
    for (const token of [u.access_token, second.body.access_token, bystander.access_token]) assert.equal((await api(b, 'GET', '/v1/me', { token })).status, 200);

    const r = await cli(['--json', 'users', 'revoke-sessions', '--email', u.email, '--reason', 'stolen laptop']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.sessions_revoked, 2);
    assert.equal(doc.operator, 'oncall-olga');

    clockB.advance(1001);
    for (const token of [u.access_token, second.body.access_token]) assert.equal((await api(b, 'GET', '/v1/me', { token })).status, 401);
    assert.equal((await api(b, 'GET', '/v1/me', { token: bystander.access_token })).status, 200, 'another user keeps their session');
    assert.notEqual((await api(a, 'POST', '/v1/auth/refresh', { json: { refresh_token: second.body.refresh_token } })).status, 200);
    const rows = await auditRows(database.db, 'operator_sessions_revoked');
    assert.deepEqual(
      rows.filter((x) => x.user_id === u.user.id).map((x) => [x.details.operator, x.details.reason, x.details.sessions_revoked]),
      [['oncall-olga', 'stolen laptop', 2]],
    );
  });

  it('refuses destructive actions without --reason (exit 2), delete without --yes (exit 2), and an unknown address (exit 1)', async () => {
    const u = await signedUpUser(a, { tag: 'usage' });
    for (const action of ['disable', 'revoke-sessions', 'delete']) {
      const r = await cli(['users', action, '--email', u.email, ...(action === 'delete' ? ['--yes'] : [])]);
      assert.equal(r.code, 2, `${action}: ${r.stderr}`);
      assert.match(r.stderr, /--reason/);
    }
    const noYes = await cli(['users', 'delete', '--email', u.email, '--reason', 'erasure']);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /--yes/);
    assert.equal((await cli(['users', 'show'])).code, 2, '--email is required');
    assert.equal((await cli(['users', 'show', '--email', 'not an address'])).code, 2);

    const missing = uniqueEmail('nobody');
    const unknown = await cli(['users', 'disable', '--email', missing, '--reason', 'x']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`no account has the address ${missing.replace(/[.]/g, '\\.')}`));
    assert.equal(unknown.stdout, '');
    assert.equal((await database.db.knex('users').where({ id: u.user.id }).first()).disabled_at, null, 'nothing changed');
  });

  it('--json prints exactly one document', async () => {
    const u = await signedUpUser(a, { tag: 'json' });
    for (const argv of [
      ['users', 'show', '--email', u.email],
      ['users', 'disable', '--email', u.email, '--reason', 'json check'],
      ['users', 'enable', '--email', u.email],
      ['users', 'revoke-sessions', '--email', u.email, '--reason', 'json check'],
    ]) {
      const r = await cli(['--json', ...argv]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(typeof doc, 'object', argv.join(' '));
      assert.equal(doc.operator, 'oncall-olga');
    }
  });

  it('without AUDIT_HASH_KEY (outside production) the row has a null email_hash, and the operator is told', async () => {
    const u = await signedUpUser(a, { tag: 'nokey' });
    const r = await cli(['users', 'show', '--email', u.email], { USER: 'dev' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /AUDIT_HASH_KEY is not set/);
    const rows = (await auditRows(database.db, 'operator_user_shown')).filter((x) => x.user_id === u.user.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.email_hash, null);
    assert.equal(rows[0]?.details.operator, 'dev');
  });

  it('export writes the GET /v1/me/export shape to --out; delete removes the user’s rows and keeps the audit trail', async () => {
    const u = await signedUpUser(a, { tag: 'delete' });
    const conversation = await api(a, 'POST', '/v1/conversations', { token: u.access_token, json: { title: 'to be erased' } });
    assert.equal(conversation.status, 201, conversation.text);

    const dir = mkdtempSync(join(tmpdir(), 'secops-export-'));
    try {
      const file = join(dir, 'export.json');
      const r = await cli(['--json', 'users', 'export', '--email', u.email, '--out', file, '--reason', 'DSAR-9']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).file, file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(doc.user.id, u.user.id);
      assert.equal(doc.sessions.length, 1);
      assert.deepEqual(doc.conversations.map((c: { title: string }) => c.title), ['to be erased']);
      assert.ok(doc.audit_events.some((e: { type: string }) => e.type === 'operator_user_exported'));
      assert.equal((await cli(['users', 'export', '--email', u.email, '--out', file])).code, 1, 'never overwrites');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const r = await cli(['--json', 'users', 'delete', '--email', u.email, '--reason', 'erasure request GDPR-7', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).deleted, true);
    const knex = database.db.knex;
    assert.equal((await knex('users').where({ id: u.user.id })).length, 0);
    assert.equal((await knex('sessions').where({ user_id: u.user.id })).length, 0);
    assert.equal((await knex('conversations').where({ user_id: u.user.id })).length, 0);
    const [row] = (await auditRows(database.db, 'operator_user_deleted')).filter((x) => x.user_id === u.user.id);
    assert.equal(row?.details.reason, 'erasure request GDPR-7');
    assert.equal(row?.details.operator, 'oncall-olga');
    clockB.advance(1001);
    assert.equal((await api(b, 'GET', '/v1/me', { token: u.access_token })).status, 401);
    assert.equal((await cli(['users', 'show', '--email', u.email])).code, 1, 'gone');
  });
  it('show reports the second factors: TOTP on, pending or off, unused recovery codes and passkeys', async () => {
    const u = await signedUpUser(a, { tag: 'mfashow' });
    const before = JSON.parse((await cli(['--json', 'users', 'show', '--email', u.email])).stdout);
    assert.deepEqual(before.mfa, { totp: 'off', recovery_codes_left: 0, passkeys: 0 });

    await enrolSecondFactors(u.user.id);
    const r = await cli(['--json', 'users', 'show', '--email', u.email]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).mfa, { totp: 'on', recovery_codes_left: 2, passkeys: 1 });
    const human = await cli(['users', 'show', '--email', u.email]);
    assert.match(human.stdout, /mfa: +totp on, 2 recovery code\(s\) left, 1 passkey\(s\)/);

    await database.db.knex('mfa_totp').where({ user_id: u.user.id }).update({ confirmed_at: null });
    assert.equal(JSON.parse((await cli(['--json', 'users', 'show', '--email', u.email])).stdout).mfa.totp, 'pending');
  });

  it('mfa-reset deletes the TOTP, recovery codes and passkeys, revokes the sessions, mails the owner and is audited', async () => {
    const u = await signedUpUser(a, { tag: 'mfareset' });
    const bystander = await signedUpUser(a, { tag: 'mfabystander' });
    await enrolSecondFactors(u.user.id);
    await enrolSecondFactors(bystander.user.id);
    assert.equal((await api(b, 'GET', '/v1/me', { token: u.access_token })).status, 200, 'replica B has seen the session active');

    const r = await cli(['--json', 'users', 'mfa-reset', '--email', u.email, '--reason', 'lost phone, identity verified SUP-77', '--yes', '--operator', 'sam']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.removed, { totp: 'on', recovery_codes: 3, passkeys: 1 });
    assert.equal(doc.sessions_revoked, 1);
    assert.equal(doc.operator, 'sam');

    assert.deepEqual(await factorRows(u.user.id), { totp: 0, recovery_codes: 0, passkeys: 0 });
    assert.deepEqual(await factorRows(bystander.user.id), { totp: 1, recovery_codes: 3, passkeys: 1 }, 'another user keeps theirs');

    clockB.advance(1001);
    const late = await api(b, 'GET', '/v1/me', { token: u.access_token });
    assert.equal(late.status, 401, 'the existing session is refused by the other replica once the bound has passed');
    assert.notEqual((await api(a, 'POST', '/v1/auth/refresh', { json: { refresh_token: u.refresh_token } })).status, 200);
    assert.equal((await api(b, 'GET', '/v1/me', { token: bystander.access_token })).status, 200);
    const login = await api(a, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    assert.equal(login.status, 200, login.text);
    assert.ok(login.body.access_token, 'the password alone signs in until the owner enrols again');

    const [row] = (await auditRows(database.db, 'operator_mfa_reset')).filter((x) => x.user_id === u.user.id);
    assert.ok(row);
    assert.equal(row.email_hash, hashEmail(u.email, Buffer.from(AUDIT_KEY, 'base64url')));
    assert.equal(row.details.operator, 'sam');
    assert.equal(row.details.reason, 'lost phone, identity verified SUP-77');
    assert.deepEqual(row.details.removed, { totp: 'on', recovery_codes: 3, passkeys: 1 });
    assert.equal(row.details.sessions_revoked, 1);

    const mails = await database.db.knex('mail_outbox').select('template', 'to_address', 'subject').where({ user_id: u.user.id, template: 'mfa_changed' });
    assert.deepEqual(mails, [{ template: 'mfa_changed', to_address: u.email, subject: 'Your sign-in settings changed' }]);
  });

  it('mfa-reset needs --reason and --yes (exit 2, nothing changed); an unknown address exits 1 as the other commands do', async () => {
    const u = await signedUpUser(a, { tag: 'mfausage' });
    await enrolSecondFactors(u.user.id);
    const noReason = await cli(['users', 'mfa-reset', '--email', u.email, '--yes']);
    assert.equal(noReason.code, 2, noReason.stderr);
    assert.match(noReason.stderr, /--reason/);
    const noYes = await cli(['users', 'mfa-reset', '--email', u.email, '--reason', 'lost phone']);
    assert.equal(noYes.code, 2, noYes.stderr);
    assert.match(noYes.stderr, /--yes/);
    assert.deepEqual(await factorRows(u.user.id), { totp: 1, recovery_codes: 3, passkeys: 1 }, 'nothing changed');
    assert.equal((await api(a, 'GET', '/v1/me', { token: u.access_token })).status, 200);

    const missing = uniqueEmail('nobody');
    const unknown = await cli(['users', 'mfa-reset', '--email', missing, '--reason', 'x', '--yes']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`no account has the address ${missing.replace(/[.]/g, '\\.')}`));
    assert.equal(unknown.stdout, '');
  });

  it('mfa-reset of an account without second factors still ends its sessions, mails the owner and is audited', async () => {
    const u = await signedUpUser(a, { tag: 'mfanone' });
    const r = await cli(['users', 'mfa-reset', '--email', u.email, '--reason', 'owner asked SUP-78', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /TOTP none, 0 recovery code\(s\) and 0 passkey\(s\) deleted/);
    assert.match(r.stdout, /1 session\(s\) revoked/);
    assert.equal((await database.db.knex('mail_outbox').where({ user_id: u.user.id, template: 'mfa_changed' })).length, 1, 'the owner is told anyway');
    const [row] = (await auditRows(database.db, 'operator_mfa_reset')).filter((x) => x.user_id === u.user.id);
    assert.deepEqual(row?.details.removed, { totp: 'off', recovery_codes: 0, passkeys: 0 });
  });
});
