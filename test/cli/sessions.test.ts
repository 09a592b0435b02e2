import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeClock, InProcessTestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import type { TestDatabase } from '../helpers/database.js';
import { signedUpUser } from '../helpers/users.js';
import { auditRows, secops, type TwoReplicas, twoReplicas } from './operator-fixture.js';

describe('secops sessions revoke-all', () => {
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
