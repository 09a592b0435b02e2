import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api } from '../../../helpers/client.js';
import { TEST_PASSWORD, uniqueEmail } from '../../../helpers/users.js';
import { accountWorld, verifiedAccount } from './account-fixture.js';

/**
 * /metrics is no account-existence oracle (issue 26, hostile review): whoever can read the metrics
 * port must not learn, by watching a counter move, whether the address they tried has an account. The
 * counters carry the answer the client got; the audit trail, which only operators read, keeps the
 * precise reason.
 */
async function series(
  registry: {
    getSingleMetric(
      name: string,
    ): { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> } | undefined;
  },
  name: string,
) {
  const metric = await registry.getSingleMetric(name)?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [JSON.stringify(v.labels), v.value]));
}

describe('the auth counters tell no one whether an account exists', () => {
  it('an unknown address, a malformed one and a wrong password move the same login series; the audit keeps which', async (t) => {
    const w = await accountWorld(t);
    const account = await verifiedAccount(w);
    const before = await series(w.app.deps.metrics.registry, 'auth_fail_total');
    const unknown = uniqueEmail('nobody');
    for (const email of [account.email, unknown, 'not-an-address']) {
      const res = await api(w.app, 'POST', '/v1/auth/login', { json: { email, password: 'a wrong password 42' } });
      assert.equal(res.status, 401, res.text);
      assert.equal(res.body.code, 'invalid_credentials');
    }
    const after = await series(w.app.deps.metrics.registry, 'auth_fail_total');
    const moved = Object.entries(after).filter(([labels, value]) => value !== (before[labels] ?? 0));
    assert.deepEqual(moved, [
      [
        JSON.stringify({ flow: 'login', reason: 'invalid_credentials' }),
        (before[JSON.stringify({ flow: 'login', reason: 'invalid_credentials' })] ?? 0) + 3,
      ],
    ]);

    await w.app.deps.audit.log.flush();
    const reasons = (await w.app.deps.db.knex('audit_events').where({ type: 'login_failed' }).select('details')).map(
      (r: { details: { reason: string } }) => r.details.reason,
    );
    assert.deepEqual(reasons.sort(), ['invalid_email', 'unknown_email', 'wrong_password']);
  });

  it('a signup for a taken address (verification required) counts as the accepted signup it was answered as', async (t) => {
    const w = await accountWorld(t);
    const account = await verifiedAccount(w);
    const before = await series(w.app.deps.metrics.registry, 'auth_success_total');
    const failsBefore = await series(w.app.deps.metrics.registry, 'auth_fail_total');
    for (const email of [account.email, uniqueEmail('fresh')]) {
      const res = await api(w.app, 'POST', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
      assert.equal(res.status, 202, res.text);
    }
    await w.app.deps.auth.settled();
    const signups = JSON.stringify({ flow: 'signup' });
    assert.equal((await series(w.app.deps.metrics.registry, 'auth_success_total'))[signups], (before[signups] ?? 0) + 2);
    assert.deepEqual(await series(w.app.deps.metrics.registry, 'auth_fail_total'), failsBefore, 'no failure series moved');
    await w.app.deps.audit.log.flush();
    const taken = await w.app.deps.db.knex('audit_events').where({ type: 'signup_failed' }).select('details');
    assert.deepEqual(
      taken.map((r: { details: { reason: string } }) => r.details.reason),
      ['email_taken'],
    );
  });
});
