import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeClock, fakeClock, type InProcessTestApp, startTestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { signedUpUser } from '../helpers/users.js';
import { main } from '../../cli/src/main.js';
import type { Database } from '../../service/src/platform/db.js';
import { captureIo } from './capture.js';

const AUDIT_KEY = Buffer.alloc(32, 9).toString('base64url');

/** `secops …` in process over the test's database (its close is left to the test). */
async function secops(db: Database, argv: string[]) {
  const { io, stdout, stderr } = captureIo({ AUDIT_HASH_KEY: AUDIT_KEY, USER: 'oncall-olga' });
  const borrowed: Database = { ...db, close: async () => undefined };
  const code = await main(argv, io, { openDatabase: async () => borrowed });
  return { code, stdout: stdout(), stderr: stderr() };
}

async function auditRows(db: Database, type: string): Promise<{ details: Record<string, unknown> }[]> {
  return db.knex('audit_events').select('details').where({ type }).orderBy('id');
}

describe('secops sessions revoke-all', () => {
  let database: TestDatabase;
  let clockB: FakeClock;
  let a: InProcessTestApp;
  let b: InProcessTestApp;
  before(async () => {
    database = await createTestDatabase();
    clockB = fakeClock();
    a = await startTestApp({ database, env: { AUDIT_HASH_KEY: AUDIT_KEY } });
    b = await startTestApp({ database, clock: clockB, env: { AUDIT_HASH_KEY: AUDIT_KEY } });
  });
  after(async () => {
    await a.close();
    await b.close();
    await database.drop();
  });
  const cli = (argv: string[]) => secops(database.db, argv);

  it('needs --reason and --yes (exit 2), and changes nothing without them', async () => {
    const u = await signedUpUser(a, { tag: 'guarded' });
    assert.equal((await cli(['sessions', 'revoke-all', '--yes'])).code, 2);
    const noYes = await cli(['sessions', 'revoke-all', '--reason', 'INC-1']);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /--yes/);
    assert.equal((await api(a, 'GET', '/v1/me', { token: u.access_token })).status, 200);
  });

  it('ends every session of every user, deletes their refresh tokens, is audited and says how to kill live access tokens', async () => {
    const users = [await signedUpUser(a, { tag: 'all1' }), await signedUpUser(a, { tag: 'all2' }), await signedUpUser(b, { tag: 'all3' })];
    for (const u of users) assert.equal((await api(b, 'GET', '/v1/me', { token: u.access_token })).status, 200);

    const r = await cli(['--json', 'sessions', 'revoke-all', '--reason', 'refresh tokens leaked INC-12', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.ok(doc.sessions_revoked >= 3, r.stdout);
    assert.ok(doc.users >= 3);
    assert.equal(doc.operator, 'oncall-olga');
    assert.match(doc.access_tokens_note, /ACCESS_TOKEN_TTL_SECONDS/);
    assert.ok(doc.kill_live_access_tokens.includes('secops keys remove <old kid>'));

    clockB.advance(1001);
    for (const u of users) {
      assert.equal((await api(b, 'GET', '/v1/me', { token: u.access_token })).status, 401);
      assert.equal((await api(a, 'GET', '/v1/me', { token: u.access_token })).status, 401);
      assert.notEqual((await api(a, 'POST', '/v1/auth/refresh', { json: { refresh_token: u.refresh_token } })).status, 200);
    }
    const knex = database.db.knex;
    assert.equal(Number((await knex('sessions').whereNull('revoked_at').count({ n: '*' }))[0]?.n), 0);
    assert.equal(Number((await knex('refresh_tokens').whereNull('rotated_at').count({ n: '*' }))[0]?.n), 0);
    const [row] = await auditRows(database.db, 'operator_all_sessions_revoked');
    assert.equal(row?.details.reason, 'refresh tokens leaked INC-12');
    assert.equal(row?.details.operator, 'oncall-olga');
    assert.equal(row?.details.sessions_revoked, doc.sessions_revoked);

    const human = await cli(['sessions', 'revoke-all', '--reason', 'again', '--yes']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /0 session\(s\)/);
    assert.match(human.stdout, /secops keys rotate stage/);
    assert.match(human.stdout, /secops keys remove <old kid>/);

    const back = await api(a, 'POST', '/v1/auth/login', { json: { email: users[0]?.email, password: users[0]?.password } });
    assert.equal(back.status, 200, 'users log in again');
  });
});
