import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { main } from '../../cli/src/main.js';
import { parseMfaKeyring } from '../../service/src/public/auth.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo } from './capture.js';

/** `secops mfa reencrypt`: counts, moves, refuses what it cannot read (the rotation itself: mfa-key-rotation.test.ts). */
const KEY_1 = Buffer.alloc(32, 1).toString('base64url');
const KEY_2 = Buffer.alloc(32, 2).toString('base64url');
const OLD = JSON.stringify({ primary: 'k1', keys: { k1: KEY_1 } });
const PROMOTED = JSON.stringify({ primary: 'k2', keys: { k1: KEY_1, k2: KEY_2 } });

describe('secops mfa reencrypt', { skip: !(await realPostgresAvailable()) && 'needs PostgreSQL' }, () => {
  let db: TestDatabase;
  const secops = async (args: string[], key?: string) => {
    const io = captureIo({ DATABASE_URL: db.url as string, ...(key ? { MFA_ENCRYPTION_KEY: key } : {}) });
    const code = await main(args, io.io);
    return { code, stdout: io.stdout(), stderr: io.stderr() };
  };
  const seal = async (ring: string, n: number) => {
    const keyring = parseMfaKeyring(ring);
    for (let i = 0; i < n; i++) {
      const [user] = await db.db.knex('users').insert({ email: `mfa-cli-${i}-${Date.now()}@example.com`, password_hash: 'x' }).returning('id');
      const sealed = keyring.encrypt(Buffer.from(`SECRET${i}`), user.id);
      await db.db.knex('mfa_totp').insert({ user_id: user.id, key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext, confirmed_at: new Date() });
    }
  };

  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('--dry-run counts the secrets under other keys and changes nothing; a run moves them all; a second run has nothing to do', async () => {
    await seal(OLD, 5);
    const dry = await secops(['--json', 'mfa', 'reencrypt', '--dry-run'], PROMOTED);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout).candidates, 5);
    assert.equal((await db.db.knex('mfa_totp').where({ key_id: 'k2' })).length, 0);
    const run = await secops(['--json', 'mfa', 'reencrypt', '--batch-size', '2'], PROMOTED);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { primaryKeyId: 'k2', candidates: 5, reencrypted: 5, skipped: 0, failed: [], remaining: 0, dryRun: false });
    const ring = parseMfaKeyring(PROMOTED);
    for (const row of await db.db.knex('mfa_totp')) assert.match(ring.decrypt(row.key_id, row.secret_ciphertext, row.user_id).toString(), /^SECRET\d$/);
    const again = await secops(['--json', 'mfa', 'reencrypt'], PROMOTED);
    assert.equal(JSON.parse(again.stdout).candidates, 0);
  });

  it('a secret under a key the keyring lacks fails the run (exit 1) naming the key; a bad keyring is a configuration error (exit 78)', async () => {
    await seal(JSON.stringify({ primary: 'lost', keys: { lost: Buffer.alloc(32, 9).toString('base64url') } }), 1);
    const run = await secops(['mfa', 'reencrypt'], PROMOTED);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /1 secret\(s\) could not be read with MFA_ENCRYPTION_KEY \(lost\)/);
    const bad = await secops(['mfa', 'reencrypt'], 'short');
    assert.equal(bad.code, 78, bad.stderr);
    assert.ok(!bad.stderr.includes(KEY_1));
    assert.equal((await secops(['mfa', 'reencrypt', '--batch-size', '0'], PROMOTED)).code, 2);
  });
});
