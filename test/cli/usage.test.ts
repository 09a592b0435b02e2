import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type InProcessTestApp, startTestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { signedUpUser } from '../helpers/users.js';
import { AUDIT_KEY, auditRows, OPERATOR_ENV, secops } from './operator-fixture.js';

/**
 * Operators and model usage (issue 21): `secops users budget` overrides one account's token budgets —
 * applied by the service to its next call — and `secops usage report` sums the ledger per user or model.
 */
describe('secops users budget and secops usage report', () => {
  let database: TestDatabase;
  let app: InProcessTestApp;
  const env = { ...OPERATOR_ENV, MODEL_TOKENS_PER_DAY: '1000', MODEL_TOKENS_PER_MONTH: '20000' };

  before(async () => {
    database = await createTestDatabase();
    app = await startTestApp({ database, env: { AUDIT_HASH_KEY: AUDIT_KEY, MODEL_TOKENS_PER_DAY: '1000', MODEL_TOKENS_PER_MONTH: '20000' } });
  });
  after(async () => {
    await app.close();
    await database.drop();
  });

  const ledger = (row: Partial<{ user_id: string; provider: string; model: string; prompt_tokens: number; completion_tokens: number; estimated: boolean; outcome: string; created_at: Date }>) =>
    database.db.knex('model_usage').insert({
      user_id: row.user_id ?? randomUUID(),
      provider: row.provider ?? 'openai',
      model: row.model ?? 'gpt-test',
      prompt_tokens: row.prompt_tokens ?? 10,
      completion_tokens: row.completion_tokens ?? 5,
      estimated: row.estimated ?? false,
      outcome: row.outcome ?? 'ok',
      latency_ms: 100,
      created_at: row.created_at ?? new Date(),
    });

  it('budget shows the budgets in force and today’s usage; an override (audited) is what the service applies next, and "default" removes it', async () => {
    const u = await signedUpUser(app);
    await ledger({ user_id: u.user.id, prompt_tokens: 100, completion_tokens: 50 });
    const shown = await secops(database.db, ['--json', 'users', 'budget', '--email', u.email], env);
    assert.equal(shown.code, 0, shown.stderr);
    const s = JSON.parse(shown.stdout);
    assert.deepEqual([s.day, s.month, s.override.tokens_per_day], [{ used: 150, limit: 1000 }, { used: 150, limit: 20000 }, null]);

    const set = await secops(database.db, ['--json', 'users', 'budget', '--email', u.email, '--day', '5000', '--month', '0', '--reason', 'pilot customer, SUP-9'], env);
    assert.equal(set.code, 0, set.stderr);
    const r = JSON.parse(set.stdout);
    assert.deepEqual([r.day.limit, r.month.limit, r.override.updated_by], [5000, null, 'oncall-olga'], 'month 0 = unlimited');
    const usage = await api(app, 'GET', '/v1/usage', { token: u.access_token });
    assert.deepEqual([usage.body.day.limit, usage.body.month.limit, usage.body.day.used], [5000, null, 150], 'the service reads the override at once');
    const audited = (await auditRows(database.db, 'operator_budget_set')).filter((a) => a.user_id === u.user.id);
    assert.equal(audited.length, 1);
    assert.equal(audited[0]?.details.reason, 'pilot customer, SUP-9');
    assert.deepEqual((audited[0]?.details.after as { tokens_per_day: number } | undefined)?.tokens_per_day, 5000);

    const back = await secops(database.db, ['--json', 'users', 'budget', '--email', u.email, '--day', 'default', '--month', 'default', '--reason', 'pilot over'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((await database.db.knex('model_budgets').where({ user_id: u.user.id })).length, 0, 'no override left');
    assert.equal((await api(app, 'GET', '/v1/usage', { token: u.access_token })).body.day.limit, 1000);
  });

  it('budget refuses a change without --reason and a value that is not tokens or "default" (exit 2), and an unknown address (exit 1)', async () => {
    const u = await signedUpUser(app);
    assert.equal((await secops(database.db, ['users', 'budget', '--email', u.email, '--day', '10'], env)).code, 2);
    assert.equal((await secops(database.db, ['users', 'budget', '--email', u.email, '--day', '-1', '--reason', 'x'], env)).code, 2);
    assert.equal((await secops(database.db, ['users', 'budget', '--email', u.email, '--month', 'lots', '--reason', 'x'], env)).code, 2);
    assert.equal((await secops(database.db, ['users', 'budget', '--email', 'nobody-here@example.com'], env)).code, 1);
    assert.equal((await database.db.knex('model_budgets').where({ user_id: u.user.id })).length, 0);
  });

  it('usage report sums the ledger per user or per model over [--from, --to), biggest first, as JSON or CSV', async () => {
    const [alice, bob] = [randomUUID(), randomUUID()];
    const inside = new Date('2031-03-10T12:00:00Z');
    await ledger({ user_id: alice, prompt_tokens: 1000, completion_tokens: 500, created_at: inside });
    await ledger({ user_id: alice, model: 'gpt-other', prompt_tokens: 10, completion_tokens: 0, outcome: 'error', created_at: inside });
    await ledger({ user_id: bob, provider: 'builtin', model: 'builtin', prompt_tokens: 20, completion_tokens: 30, estimated: true, created_at: inside });
    await ledger({ user_id: bob, prompt_tokens: 9999, created_at: new Date('2031-04-01T00:00:00Z') }); // the --to instant: excluded

    const byUser = await secops(database.db, ['--json', 'usage', 'report', '--from', '2031-03-01', '--to', '2031-04-01', '--by', 'user'], env);
    assert.equal(byUser.code, 0, byUser.stderr);
    const u = JSON.parse(byUser.stdout);
    assert.deepEqual(
      u.rows.map((r: { key: string; calls: number; total_tokens: number; estimated_calls: number; failed_calls: number }) => [r.key, r.calls, r.total_tokens, r.estimated_calls, r.failed_calls]),
      [
        [alice, 2, 1510, 0, 1],
        [bob, 1, 50, 1, 0],
      ],
    );
    assert.deepEqual(u.totals, { calls: 3, tokens: 1560 });

    const byModel = await secops(database.db, ['usage', 'report', '--from', '2031-03-01', '--to', '2031-04-01', '--by', 'model', '--csv'], env);
    assert.equal(byModel.code, 0, byModel.stderr);
    assert.deepEqual(byModel.stdout.trim().split('\n'), [
      'model,calls,prompt_tokens,completion_tokens,total_tokens,estimated_calls,failed_calls',
      'openai/gpt-test,1,1000,500,1500,0,0',
      'builtin/builtin,1,20,30,50,1,0',
      'openai/gpt-other,1,10,0,10,0,1',
    ]);
    assert.equal((await secops(database.db, ['usage', 'report', '--from', '2031-04-01', '--to', '2031-03-01'], env)).code, 2);
    assert.equal((await secops(database.db, ['usage', 'report', '--from', 'yesterday'], env)).code, 2);
  });
});
