import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fakeClock, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { testRedisUrl } from '../../../helpers/services.js';
import { uniqueEmail } from '../../../helpers/users.js';
import { accountWorld, verifiedAccount } from './account-fixture.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { redisKeyPrefix } from '../../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('mail-limit');

const redisUrl = testRedisUrl();

describe('mail limits', () => {
  it('one address gets at most RATE_LIMIT_MAIL_PER_HOUR mails an hour across replicas; past it the answer is still 202, no mail goes out, and it is counted', { skip: !redisUrl && 'needs Redis (TEST_REDIS_URL) shared by two replicas' }, async (t) => {
    const prefix = `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}`;
    // Replicas share AUDIT_HASH_KEY in production (it is required there): the budget's key is the address's keyed hash.
    const env = { REDIS_URL: redisUrl as string, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_MAIL_PER_HOUR: '3', AUDIT_HASH_KEY: randomBytes(32).toString('base64url') };
    const w = await accountWorld(t, env);
    const replica = await startTestApp({ database: w.database, clock: fakeClock(), env: { ...env, MAIL_URL: w.smtp.mailUrl, MAIL_CA_FILE: w.smtp.caFile } });
    t.after(() => replica.close());
    await Promise.all([redisReady(w.app.deps.redis), redisReady(replica.deps.redis)]);
    const a = await verifiedAccount(w); // the verification mail is the first of the address's three

    const answers = [];
    for (const app of [w.app, replica, w.app, replica]) answers.push(await api(app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } }));
    assert.deepEqual(answers.map((r) => [r.status, r.body.status]), Array(4).fill([202, 'reset_requested']));
    await replica.deps.auth.settled();
    await replica.deps.mail.sender.deliverDue();
    const resets = (await w.mailsTo(a.email)).filter((m) => m.subject === 'Reset your password');
    assert.equal(resets.length, 2, `verification + 2 resets = the budget of 3, shared by both replicas; got ${resets.length}: ${JSON.stringify((await w.mailsTo(a.email)).map((m) => m.subject))}`);
    const suppressed = (await w.app.deps.metrics.registry.getSingleMetric('mail_suppressed_total')?.get())?.values ?? [];
    const replicaSuppressed = (await replica.deps.metrics.registry.getSingleMetric('mail_suppressed_total')?.get())?.values ?? [];
    const total = [...suppressed, ...replicaSuppressed].filter((v) => v.labels.reason === 'rate_limited').reduce((n, v) => n + v.value, 0);
    assert.equal(total, 2);
    await w.app.deps.audit.log.flush();
    await replica.deps.audit.log.flush();
    const audited = await w.app.deps.db.knex('audit_events').where({ user_id: a.userId, type: 'mail_rate_limited' });
    assert.equal(audited.length, 2);
    const keys = await w.app.deps.redis?.client.keys(`${prefix}*`);
    assert.ok(keys?.length, 'the budget lives in Redis');
    assert.ok(!keys?.some((k) => k.includes(a.email) || k.includes(a.email.split('@')[0] as string)), 'keyed by the keyed hash, never the address');
  });

  it('each client IP may ask for RATE_LIMIT_MAIL_IP_PER_HOUR mails an hour over all mail routes (429 after)', async (t) => {
    const w = await accountWorld(t, { RATE_LIMIT_MAIL_IP_PER_HOUR: '4' });
    const statuses = [];
    for (const path of ['/v1/auth/password-reset', '/v1/auth/verify-email/resend', '/v1/auth/password-reset', '/v1/auth/verify-email/resend', '/v1/auth/password-reset']) {
      statuses.push((await api(w.app, 'POST', path, { json: { email: uniqueEmail('ip') } })).status);
    }
    assert.deepEqual(statuses, [202, 202, 202, 202, 429]);
  });

  it('a mail server that is down never fails the request nor loses the mail: it goes out once the server is back', async (t) => {
    const w = await accountWorld(t);
    const a = await verifiedAccount(w);
    await w.smtp.down();
    const res = await api(w.app, 'POST', '/v1/auth/password-reset', { json: { email: a.email } });
    assert.equal(res.status, 202);
    await w.app.deps.auth.settled();
    await w.app.deps.mail.sender.deliverDue();
    const [row] = await w.app.deps.db.knex('mail_outbox').where({ to_address: a.email, template: 'reset_password' });
    assert.equal(row.status, 'pending', 'kept for a retry');
    assert.equal(row.attempts, 1);
    await w.smtp.up();
    w.clock.advance(60_000); // past the first retry delay (15–30 s)
    const mail = await w.mailTo(a.email, 'Reset your password');
    assert.match(mail.text, /reset-password\?token=/);
  });
});
