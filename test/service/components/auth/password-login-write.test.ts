import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { hashDeviceToken, newDeviceToken } from '../../../../service/src/components/auth/device-tokens.js';
import { createSessionsRepo, type SessionsRepo } from '../../../../service/src/components/auth/sessions-repo.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';

/**
 * What a password login writes once the password is verified, in one round trip (sessions-repo
 * `openPasswordLogin`, migrations/20261206002400_open_password_login.ts): the caps on sessions and
 * devices hold under concurrent logins of one account, and an account with a second factor or a
 * password changed meanwhile gets nothing written.
 */
describe('a password login’s writes', () => {
  let database: TestDatabase;
  let sessions: SessionsRepo;
  before(async () => {
    database = await createTestDatabase();
    sessions = createSessionsRepo(database.db.knex);
  });
  after(async () => {
    await database?.drop();
  });

  const knex = () => database.db.knex;
  async function newUser(): Promise<{ id: string; hash: string }> {
    const hash = `$argon2id$v=19$m=19456,t=2,p=1$${randomBytes(16).toString('base64url')}`;
    const { rows } = await knex().raw("insert into users (email, password_hash) values ('login-' || gen_random_uuid() || '@example.com', ?) returning id", [hash]);
    return { id: rows[0].id as string, hash };
  }
  const now = new Date();
  const open = (user: { id: string; hash: string }, options: { maxSessions?: number; deviceHash?: Buffer | null; at?: Date } = {}) =>
    sessions.openPasswordLogin({
      userId: user.id,
      passwordHash: user.hash,
      ip: '203.0.113.7',
      userAgent: 'test',
      expiresAt: new Date(now.getTime() + 3_600_000),
      refreshHash: randomBytes(32),
      authTime: options.at ?? now,
      amr: ['pwd'],
      now: options.at ?? now,
      maxSessions: options.maxSessions ?? 50,
      deviceHash: options.deviceHash === undefined ? newDeviceToken().hash : options.deviceHash,
      maxDevices: 20,
    });
  const count = async (sql: string, values: readonly (string | Buffer)[]) => Number((await knex().raw(sql, values)).rows[0].n);
  const activeSessions = (userId: string) => count('select count(*) as n from sessions where user_id = ? and revoked_at is null', [userId]);
  const devices = (userId: string) => count('select count(*) as n from device_tokens where user_id = ?', [userId]);

  it('opens a session with its refresh token and a new device', async () => {
    const user = await newUser();
    const device = newDeviceToken();
    const write = await open(user, { deviceHash: device.hash });
    assert.equal(write.outcome, 'opened');
    assert.ok(write.outcome === 'opened' && write.evicted.length === 0);
    const session = (await knex().raw('select user_id, ip, amr from sessions where id = ?', [write.sessionId])).rows[0];
    assert.deepEqual(session, { user_id: user.id, ip: '203.0.113.7', amr: ['pwd'] });
    assert.equal(await count('select count(*) as n from refresh_tokens where session_id = ?', [write.sessionId]), 1);
    assert.equal(await count('select count(*) as n from device_tokens where user_id = ? and token_hash = ?', [user.id, hashDeviceToken(device.token)]), 1);
  });

  it('concurrent logins of one account never leave more than the cap of active sessions', async () => {
    const user = await newUser();
    for (let i = 0; i < 3; i += 1) assert.equal((await open(user, { maxSessions: 3 })).outcome, 'opened');
    const writes = await Promise.all(Array.from({ length: 12 }, () => open(user, { maxSessions: 3 })));
    assert.ok(writes.every((w) => w.outcome === 'opened'));
    assert.equal(await activeSessions(user.id), 3, 'the cap holds');
    const evicted = writes.flatMap((w) => (w.outcome === 'opened' ? w.evicted : []));
    assert.equal(evicted.length, 12, 'every session beyond the cap was reported once');
    assert.equal(new Set(evicted).size, 12);
    assert.equal(await count("select count(*) as n from sessions where user_id = ? and revoked_reason = 'evicted'", [user.id]), 12);
  });

  it('evicts the least recently used sessions and reports them', async () => {
    const user = await newUser();
    const opened: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const w = await open(user, { maxSessions: 3 });
      assert.equal(w.outcome, 'opened');
      if (w.outcome === 'opened') opened.push(w.sessionId);
    }
    // The oldest session is in use: the second is now the least recently used.
    await knex().raw("update sessions set last_used_at = now() + interval '1 minute' where id = ?", [opened[0] as string]);
    const w = await open(user, { maxSessions: 3 });
    assert.ok(w.outcome === 'opened');
    assert.deepEqual(w.evicted, [opened[1]]);
  });

  it('keeps the 20 most recent devices and never forgets the new one; a known device adds none', async () => {
    const user = await newUser();
    for (let i = 0; i < 20; i += 1) await open(user);
    assert.equal(await devices(user.id), 20);
    const late = newDeviceToken();
    assert.equal((await open(user, { deviceHash: late.hash, at: new Date(now.getTime() - 600_000) })).outcome, 'opened');
    assert.equal(await devices(user.id), 20, 'the cap holds');
    assert.equal(await count('select count(*) as n from device_tokens where token_hash = ?', [late.hash]), 1, 'the new device is kept');
    assert.equal((await open(user, { deviceHash: null })).outcome, 'opened');
    assert.equal(await devices(user.id), 20, 'a known device adds no row');
  });

  it('writes nothing when the password changed since it was verified', async () => {
    const user = await newUser();
    await knex().raw("update users set password_hash = password_hash || 'x' where id = ?", [user.id]);
    assert.deepEqual(await open(user), { outcome: 'password_changed' });
    assert.equal(await count('select count(*) as n from sessions where user_id = ?', [user.id]), 0);
    assert.equal(await devices(user.id), 0);
  });

  it('writes nothing for an account with a confirmed TOTP or a passkey; an unconfirmed TOTP is no second factor', async () => {
    const totp = await newUser();
    await knex().raw("insert into mfa_totp (user_id, secret_ciphertext, key_id) values (?, '\\x00', 'k1')", [totp.id]);
    assert.equal((await open(totp)).outcome, 'opened', 'TOTP set up but never confirmed');
    await knex().raw('update mfa_totp set confirmed_at = now() where user_id = ?', [totp.id]);
    assert.deepEqual(await open(totp), { outcome: 'second_factor' });
    assert.equal(await activeSessions(totp.id), 1, 'only the session opened before the TOTP was confirmed');

    const passkey = await newUser();
    await knex().raw("insert into webauthn_credentials (user_id, credential_id, public_key, device_type, name) values (?, ?, '\\x00', 'singleDevice', 'key')", [
      passkey.id,
      randomBytes(16).toString('base64url'),
    ]);
    assert.deepEqual(await open(passkey), { outcome: 'second_factor' });
    assert.equal(await count('select count(*) as n from sessions where user_id = ?', [passkey.id]), 0);
    assert.equal(await devices(passkey.id), 0);
  });
});
