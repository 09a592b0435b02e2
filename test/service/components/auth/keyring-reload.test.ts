import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import {
  initialDocument,
  type KeysDocument,
  promote,
  serializeKeysDocument,
  stage,
} from '../../../../service/src/components/auth/keys-document.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { api } from '../../../helpers/client.js';
import { type ServiceProcess, spawnService } from '../../../helpers/service-process.js';
import { waitFor } from '../../../helpers/wait.js';
import { TEST_PASSWORD as PASSWORD } from '../../../helpers/users.js';

const instant = { reloadIntervalMs: 0, tokenLifetimeMs: 900_000, clockToleranceMs: 30_000, marginMs: 0 };

async function publishedKids(service: ServiceProcess): Promise<string[]> {
  const res = await api(service.baseUrl, 'GET', '/.well-known/jwks.json');
  return (res.body.keys as { kid: string }[]).map((k) => k.kid).sort();
}


describe('the keyring is re-read without a restart', () => {
  let database: TestDatabase;
  let dir: string;
  before(async () => {
    database = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'rampart-keyring-'));
  });
  after(async () => {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (file: string, intervalSeconds: string) =>
    spawnService({
      env: {
        DATABASE_URL: database.url as string,
        JWT_SECRET: '',
        JWT_KEYS_FILE: file,
        JWT_KEYS_RELOAD_INTERVAL_SECONDS: intervalSeconds,
        MIGRATE_ON_START: 'false',
        LOG_LEVEL: 'info',
      },
    });

  it('on SIGHUP: a staged key is published, a promoted key signs, old tokens stay valid, a bad document changes nothing', async () => {
    const file = join(dir, 'sighup.json');
    const first = await initialDocument({ alg: 'EdDSA', now: new Date() });
    writeFileSync(file, serializeKeysDocument(first), { mode: 0o600 });
    const service = await start(file, '0');
    try {
      const signup = await api(service.baseUrl, 'POST', '/v1/auth/signup', { json: { email: 'hup@example.com', password: PASSWORD } });
      assert.equal(signup.status, 201);
      const oldToken = signup.body.access_token as string;
      assert.deepEqual(await publishedKids(service), [first.signing]);

      const staged = await stage(first, { alg: 'EdDSA', now: new Date() });
      writeFileSync(file, serializeKeysDocument(staged.document));
      await sleep(300);
      assert.deepEqual(await publishedKids(service), [first.signing], 'no reload without a trigger (interval 0)');
      service.child.kill('SIGHUP');
      await waitFor('the staged key to be published', async () => (await publishedKids(service)).length === 2, 10_000);
      assert.equal(service.child.exitCode, null, 'SIGHUP does not stop the service');

      const promoted: KeysDocument = promote(staged.document, { now: new Date(), timings: instant, replicasConfirmed: true }).document;
      writeFileSync(file, serializeKeysDocument(promoted));
      service.child.kill('SIGHUP');
      await waitFor(
        'the promoted key to sign',
        async () => {
          const login = await api(service.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'hup@example.com', password: PASSWORD } });
          return decodeProtectedHeader(login.body.access_token as string).kid === staged.kid;
        },
        10_000,
      );
      assert.equal((await api(service.baseUrl, 'GET', '/v1/me', { token: oldToken })).status, 200, 'a token of the old key is still valid');

      const secretMaterial = (promoted.keys.find((k) => k.kid === staged.kid) as { d: string }).d;
      writeFileSync(file, '{"signing": "nope", "keys": [');
      service.child.kill('SIGHUP');
      await waitFor('the failure to be logged', () => service.output().includes('JWT keyring reload failed'), 10_000);
      assert.deepEqual(await publishedKids(service), [first.signing, staged.kid].sort(), 'the keys in force are kept');
      assert.equal((await api(service.baseUrl, 'GET', '/v1/me', { token: oldToken })).status, 200);
      const metrics = await (await fetch(service.metricsUrl)).text();
      assert.match(metrics, /jwt_keyring_reloads_total\{trigger="signal",outcome="error"\} 1/);
      assert.match(metrics, /jwt_keyring_reloads_total\{trigger="signal",outcome="ok"\} 2/);
      assert.match(metrics, new RegExp(`jwt_keyring_keys\\{kid="${staged.kid}",alg="EdDSA",role="signing"\\} 1`));
      assert.ok(!service.output().includes(secretMaterial), 'no key material in the logs');
    } finally {
      assert.equal(await service.stop(), 0);
    }
  });

  it('on its interval, with no signal', async () => {
    const file = join(dir, 'interval.json');
    const first = await initialDocument({ alg: 'HS256', now: new Date() });
    writeFileSync(file, serializeKeysDocument(first), { mode: 0o600 });
    const service = await start(file, '1');
    try {
      const staged = await stage(first, { alg: 'EdDSA', now: new Date() });
      writeFileSync(file, serializeKeysDocument(staged.document));
      // HMAC keys are never published: the EdDSA key appearing proves the reload.
      await waitFor('the interval reload', async () => (await publishedKids(service)).includes(staged.kid), 5000);
    } finally {
      assert.equal(await service.stop(), 0);
    }
  });
});
