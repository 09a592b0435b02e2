import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate } from 'otplib';
import { main } from '../../../../cli/src/main.js';
import { captureIo } from '../../../cli/capture.js';
import { fakeClock, type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { createTestDatabase } from '../../../helpers/database.js';
import { redisReady } from '../../../helpers/redis-ready.js';
import { realPostgresAvailable, testRedisUrl } from '../../../helpers/services.js';
import { signedUpUser } from '../../../helpers/users.js';

/**
 * Rotating MFA_ENCRYPTION_KEY without downtime (issue 20): replicas are replaced one at a time, as a
 * rolling update does, through add → promote → `secops mfa reencrypt` (while sign-ins go on) →
 * remove. Every round signs every user in with the password on one replica and the TOTP code on the
 * other. Not one second factor may fail. The last test shows the order matters: a replica that never
 * got the new key cannot read what it sealed (503, logged), which is what the order prevents.
 */
const KEY_1 = Buffer.alloc(32, 1).toString('base64url');
const KEY_2 = Buffer.alloc(32, 2).toString('base64url');
const ring = (primary: 'k1' | 'k2', keys: Record<string, string>) => JSON.stringify({ primary, keys });
const OLD = ring('k1', { k1: KEY_1 });
const ADDED = ring('k1', { k1: KEY_1, k2: KEY_2 });
const PROMOTED = ring('k2', { k1: KEY_1, k2: KEY_2 });
const REMOVED = ring('k2', { k2: KEY_2 });

const onPostgres = await realPostgresAvailable();
const redisUrl = testRedisUrl();

describe('MFA_ENCRYPTION_KEY rotation under sign-ins', {
  skip: !(onPostgres && redisUrl) && 'needs PostgreSQL and Redis shared by the replicas (the MFA token is taken on whichever replica the second step lands) and secops',
}, () => {
  it('add → promote → reencrypt → remove, replicas rolled one at a time: every second factor succeeds', async (t) => {
    const database = await createTestDatabase();
    const clock = fakeClock();
    const apps: InProcessTestApp[] = [];
    const prefix = `mfa-rotate-${process.pid}-${Date.now()}`;
    t.after(async () => {
      const redis = apps.at(-1)?.deps.redis?.client;
      const keys = redis ? await redis.keys(`${prefix}*`) : [];
      if (redis && keys.length > 0) await redis.del(...keys);
      for (const app of apps) await app.close();
      await database.drop();
    });
    const replica = async (key: string) => {
      const app = await startTestApp({ database, clock, env: { MFA_ENCRYPTION_KEY: key, REDIS_URL: redisUrl as string, REDIS_KEY_PREFIX: prefix } });
      apps.push(app);
      await redisReady(app.deps.redis);
      return app;
    };
    const now = () => Math.floor(clock.now().getTime() / 1000);
    const users: { email: string; password: string; secret: string }[] = [];
    const enrol = async (app: InProcessTestApp, count: number) => {
      for (let i = 0; i < count; i++) {
        const u = await signedUpUser(app, { tag: 'rotate' });
        const secret = (await api(app, 'POST', '/v1/auth/mfa/totp', { token: u.access_token })).body.secret as string;
        const confirmed = await api(app, 'POST', '/v1/auth/mfa/totp/confirm', { token: u.access_token, json: { code: await generate({ secret, epoch: now() }) } });
        assert.equal(confirmed.status, 200, confirmed.text);
        users.push({ email: u.email, password: u.password, secret });
      }
      clock.advance(30_000);
    };
    let attempts = 0;
    const failures: string[] = [];
    /** Every user: password on one replica, code on the other; then the next time step. */
    const round = async (phase: string, a: InProcessTestApp, b: InProcessTestApp) => {
      await Promise.all(
        users.map(async (u, i) => {
          const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
          const login = await api(first, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
          const verify = await api(second, 'POST', '/v1/auth/mfa/verify', { json: { mfa_token: login.body.mfa_token, code: await generate({ secret: u.secret, epoch: now() }) } });
          attempts += 1;
          if (verify.status !== 200) failures.push(`${phase}: ${u.email} ${verify.status} ${verify.body.code}`);
        }),
      );
      clock.advance(30_000);
    };
    const sealedWith = async () =>
      Object.fromEntries((await database.db.knex('mfa_totp').select('key_id').count('* as n').groupBy('key_id')).map((r) => [r.key_id, Number(r.n)]));

    let a = await replica(OLD);
    let b = await replica(OLD);
    await enrol(a, 6);
    await round('before', a, b);

    a = await replica(ADDED); // rolling: one replica has the new key as a secondary, the other not yet
    await round('add, half rolled', a, b);
    b = await replica(ADDED);
    await round('add, rolled', a, b);

    a = await replica(PROMOTED); // the new key encrypts on one replica; the other can already read it
    await enrol(a, 3);
    await round('promote, half rolled', a, b);
    b = await replica(PROMOTED);
    await enrol(b, 3);
    assert.deepEqual(await sealedWith(), { k1: 6, k2: 6 });

    // secops mfa reencrypt while every user signs in.
    const io = captureIo({ PATH: process.env.PATH, DATABASE_URL: database.url as string, MFA_ENCRYPTION_KEY: PROMOTED });
    const [code] = await Promise.all([main(['--json', 'mfa', 'reencrypt', '--batch-size', '4'], io.io), round('reencrypt, concurrent', a, b)]);
    assert.equal(code, 0, io.stderr());
    const report = JSON.parse(io.stdout()) as { candidates: number; reencrypted: number; skipped: number; remaining: number; failed: unknown[] };
    assert.deepEqual({ candidates: report.candidates, reencrypted: report.reencrypted, remaining: report.remaining, failed: report.failed }, { candidates: 6, reencrypted: 6, remaining: 0, failed: [] });
    assert.deepEqual(await sealedWith(), { k2: 12 });
    await round('after reencrypt', a, b);

    a = await replica(REMOVED);
    await round('remove, half rolled', a, b);
    b = await replica(REMOVED);
    await round('removed', a, b);

    assert.deepEqual(failures, []);
    assert.equal(attempts, 3 * 6 + 9 + 4 * 12, 'every round ran for every user enrolled by then');
    t.diagnostic(`${attempts} MFA sign-ins across 8 rounds of the rotation, ${failures.length} failed`);
  });

  it('out of order — the new key promoted on one replica before the other has it — fails safe: 503, logged, never a wrong answer', async (t) => {
    const database = await createTestDatabase();
    const clock = fakeClock();
    const promoted = await startTestApp({ database, clock, env: { MFA_ENCRYPTION_KEY: PROMOTED } });
    const stale = await startTestApp({ database, clock, env: { MFA_ENCRYPTION_KEY: OLD } });
    t.after(async () => {
      await promoted.close();
      await stale.close();
      await database.drop();
    });
    const u = await signedUpUser(promoted, { tag: 'order' });
    const secret = (await api(promoted, 'POST', '/v1/auth/mfa/totp', { token: u.access_token })).body.secret as string;
    await api(promoted, 'POST', '/v1/auth/mfa/totp/confirm', { token: u.access_token, json: { code: await generate({ secret, epoch: Math.floor(clock.now().getTime() / 1000) }) } });
    clock.advance(30_000);
    const login = await api(stale, 'POST', '/v1/auth/login', { json: { email: u.email, password: u.password } });
    const verify = await api(stale, 'POST', '/v1/auth/mfa/verify', {
      json: { mfa_token: login.body.mfa_token, code: await generate({ secret, epoch: Math.floor(clock.now().getTime() / 1000) }) },
    });
    assert.deepEqual([verify.status, verify.body.code], [503, 'service_unavailable']);
    assert.match(stale.logText(), /TOTP secret cannot be decrypted with MFA_ENCRYPTION_KEY/);
    assert.ok(!stale.logText().includes(secret), 'the secret never reaches the log');
  });
});
