import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { issueVerificationToken } from '../../../../service/src/public/auth.js';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { accountWorld } from './account-fixture.js';

/**
 * The operator action `secops readiness --probe-account` verifies its throwaway address with: a token
 * the verification mail would carry, posted to /v1/auth/verify-email like a client.
 */
it('issueVerificationToken: a token verify-email accepts once, superseding the mailed one, audited with the operator; none for a verified or unknown account', async (t) => {
  const world = await accountWorld(t);
  const knex = world.database.db.knex;
  const email = uniqueEmail('operator-verify');
  assert.equal((await api(world.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } })).status, 202);
  const mailed = world.token(await world.mailTo(email, 'Confirm your email address'), 'verify-email');
  const user = (await knex('users').select('id').where({ email }).first()) as { id: string };

  const audit = { operator: 'secops readiness --probe-account', reason: 'readiness probe account (throwaway)' };
  const token = await issueVerificationToken(knex, user.id, 600, world.clock.now(), audit);
  assert.ok(token);
  const verify = (value: string) => api(world.app, 'POST', '/v1/auth/verify-email', { json: { token: value } });
  assert.equal((await verify(mailed)).status, 400, 'the mailed token is superseded');
  const verified = await verify(token);
  assert.equal(verified.status, 200, verified.text);
  assert.equal(typeof verified.body.access_token, 'string');
  assert.equal((await verify(token)).status, 400, 'single use');

  const rows = (await knex('audit_events')
    .select('details')
    .where({ user_id: user.id, type: 'operator_verification_token_issued' })) as {
    details: Record<string, unknown>;
  }[];
  assert.deepEqual(
    rows.map((r) => r.details),
    [{ operator: audit.operator, reason: audit.reason, ttl_seconds: 600 }],
  );
  assert.equal(await issueVerificationToken(knex, user.id, 600, world.clock.now(), audit), undefined, 'verified already');
  assert.equal(await issueVerificationToken(knex, randomUUID(), 600, world.clock.now(), audit), undefined, 'no such user');
});
