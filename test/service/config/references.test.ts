import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../service/src/config/load.js';
import { readJwtMaterial, resolveSecretReferences } from '../../../service/src/config/references.js';
import { createSecretStore } from '../../../service/src/platform/secrets/store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { type FakeVault, startFakeVault } from '../../helpers/fake-vault.js';
import { spawnService } from '../../helpers/service-process.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';

const SECRET_64 = Buffer.alloc(64, 7).toString('base64url');
const TOKEN = 'hvs.references-test';

async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('*_REF variables', () => {
  let vault: FakeVault;
  let dir: string;
  let store: ReturnType<typeof createSecretStore>;

  before(async () => {
    vault = await startFakeVault({ tokens: [TOKEN] });
    vault.put('secret', 'rampart/prod', { jwt: SECRET_64, redis: 'redis://:pw@redis:6379' });
    dir = await mkdtemp(join(tmpdir(), 'rampart-refs-'));
    await writeFile(join(dir, 'database-url'), 'postgres://app:pw@db.internal/rampart\n');
    store = createSecretStore({ env: { MODEL_KEY: 'sk-model' }, vault: { address: vault.url, token: TOKEN } });
  });
  after(async () => {
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('replace each NAME_REF by NAME holding the referenced secret, which loadConfig then validates', async () => {
    const env = await resolveSecretReferences(
      {
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
        JWT_SECRET_REF: 'vault://secret/rampart/prod#jwt',
        DATABASE_URL_REF: `file:${join(dir, 'database-url')}`,
        REDIS_URL_REF: 'vault://secret/rampart/prod#redis',
        MODEL_API_KEY_REF: 'env:MODEL_KEY',
        UNRELATED: 'kept',
      },
      store,
    );
    assert.equal(env.JWT_SECRET, SECRET_64);
    assert.equal(env.DATABASE_URL, 'postgres://app:pw@db.internal/rampart');
    assert.equal(env.REDIS_URL, 'redis://:pw@redis:6379');
    assert.equal(env.MODEL_API_KEY, 'sk-model');
    assert.equal(env.UNRELATED, 'kept');
    for (const name of ['JWT_SECRET_REF', 'DATABASE_URL_REF', 'REDIS_URL_REF', 'MODEL_API_KEY_REF']) assert.ok(!(name in env));
    const { config } = loadConfig(env);
    assert.equal(config.database.url?.reveal(), 'postgres://app:pw@db.internal/rampart');
    assert.equal(config.jwt.ephemeral, false);
  });

  it('leave an environment without references as it is', async () => {
    const raw = { NODE_ENV: 'test', JWT_SECRET: SECRET_64 };
    assert.deepEqual(await resolveSecretReferences(raw, store), raw);
  });

  it('refuse NAME_REF together with NAME or NAME_FILE, one line per variable', async () => {
    const problems = await problemsOf(
      resolveSecretReferences(
        {
          JWT_SECRET_REF: 'vault://secret/rampart/prod#jwt',
          JWT_SECRET: SECRET_64,
          DATABASE_URL_REF: 'env:X',
          DATABASE_URL_FILE: '/run/secrets/db',
        },
        store,
      ),
    );
    assert.deepEqual(problems, [
      'JWT_SECRET_REF and JWT_SECRET are both set; set only one',
      'DATABASE_URL_REF and DATABASE_URL_FILE are both set; set only one',
    ]);
  });

  it('report a provider failure with the variable, the location and the error code, never a value', async () => {
    const problems = await problemsOf(
      resolveSecretReferences(
        {
          JWT_SECRET_REF: 'vault://secret/rampart/absent#jwt',
          REDIS_URL_REF: 'vault://secret/rampart/prod#nokey',
          DATABASE_URL_REF: `file:${join(dir, 'missing')}`,
          MODEL_API_KEY_REF: 'sk-live-pasted-by-mistake',
        },
        store,
      ),
    );
    assert.equal(problems.length, 4);
    assert.match(problems[0] as string, /^JWT_SECRET_REF: cannot read vault:\/\/secret\/rampart\/absent#jwt \(not_found: /);
    assert.match(problems[1] as string, /^DATABASE_URL_REF: cannot read file:.*missing \(not_found: /);
    assert.match(problems[2] as string, /^REDIS_URL_REF: cannot read vault:\/\/secret\/rampart\/prod#nokey \(not_found: .*no key "nokey"/);
    assert.match(problems[3] as string, /^MODEL_API_KEY_REF: secret reference has an unknown scheme/);
    const all = problems.join('\n');
    assert.doesNotMatch(all, /sk-live|redis:\/\/:pw|postgres:\/\/|AAAA/);
  });

  it('a store that refuses the credentials is a configuration error naming auth_failed', async () => {
    const denied = createSecretStore({ vault: { address: vault.url, token: 'hvs.wrong' } });
    const problems = await problemsOf(resolveSecretReferences({ JWT_SECRET_REF: 'vault://secret/rampart/prod#jwt' }, denied));
    assert.match(problems[0] as string, /^JWT_SECRET_REF: cannot read vault:\/\/secret\/rampart\/prod#jwt \(auth_failed: /);
  });

  it('an empty referenced secret is refused rather than taken as unset', async () => {
    await writeFile(join(dir, 'empty'), '\n');
    const problems = await problemsOf(resolveSecretReferences({ JWT_SECRET_REF: `file:${join(dir, 'empty')}` }, store));
    assert.match(problems[0] as string, /^JWT_SECRET_REF: file:.*empty is empty$/);
  });
});

describe('readJwtMaterial: the keyring reload reads the JWT material afresh', () => {
  let vault: FakeVault;
  let store: ReturnType<typeof createSecretStore>;

  before(async () => {
    vault = await startFakeVault({ tokens: [TOKEN] });
    store = createSecretStore({ vault: { address: vault.url, token: TOKEN } });
  });
  after(() => vault.close());

  it('follows a reference to its current value on every call', async () => {
    vault.put('secret', 'rampart/keys', { document: '{"v":1}' });
    const raw = { JWT_KEYS_REF: 'vault://secret/rampart/keys#document' };
    assert.deepEqual(await readJwtMaterial(raw, store), { keys: '{"v":1}' });
    vault.put('secret', 'rampart/keys', { document: '{"v":2}' });
    assert.deepEqual(await readJwtMaterial(raw, store), { keys: '{"v":2}' });
  });

  it('reads NAME_FILE (trailing newline dropped) and NAME', async () => {
    const files: Record<string, string> = { '/run/secrets/jwt': `${SECRET_64}\n` };
    const material = await readJwtMaterial({ JWT_SECRET_FILE: '/run/secrets/jwt', JWT_KEYS: '{"k":1}' }, store, (p) => files[p] as string);
    assert.deepEqual(material, { secret: SECRET_64, keys: '{"k":1}' });
    assert.deepEqual(await readJwtMaterial({}, store), {});
  });

  it('throws ConfigError for ambiguous or unreadable sources, without values', async () => {
    const problems = await problemsOf(
      readJwtMaterial({ JWT_SECRET: SECRET_64, JWT_SECRET_FILE: '/x', JWT_KEYS_REF: 'vault://secret/rampart/none#document' }, store),
    );
    assert.equal(problems.length, 2);
    assert.equal(problems[0], 'JWT_SECRET and JWT_SECRET_FILE are both set; set only one');
    assert.match(problems[1] as string, /^JWT_KEYS_REF: cannot read .*\(not_found/);
    assert.doesNotMatch(problems.join('\n'), new RegExp(SECRET_64));
  });
});

/** The test runner's environment without any secret setting, so only what a test gives reaches the child. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(DATABASE_URL|REDIS_URL|JWT_|MODEL_|VAULT_|AWS_)/.test(k)) env[k] = v;
  }
  return env;
}

describe('the service started with *_REF variables', () => {
  let vault: FakeVault;
  let database: TestDatabase;
  let dir: string;

  before(async () => {
    vault = await startFakeVault({ tokens: [TOKEN] });
    vault.put('secret', 'rampart/prod', { jwt: SECRET_64 });
    database = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'rampart-refs-e2e-'));
  });
  after(async () => {
    await vault.close();
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads JWT_SECRET from Vault and DATABASE_URL from a file, and is ready (production)', async (t) => {
    if (!database.url) return t.skip('needs a real PostgreSQL (TEST_DATABASE_URL) for a connection string');
    await writeFile(join(dir, 'database-url'), `${database.url}\n`, { mode: 0o600 });
    const service = await spawnService({
      inherit: childEnv(),
      env: {
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
        MIGRATE_ON_START: 'false',
        SHUTDOWN_DELAY_MS: '0',
        JWT_SECRET_REF: 'vault://secret/rampart/prod#jwt',
        DATABASE_URL_REF: `file:${join(dir, 'database-url')}`,
        VAULT_ADDR: vault.url,
        VAULT_TOKEN: TOKEN,
      },
    });
    try {
      const ready = await fetch(`${service.baseUrl}/readyz`);
      assert.equal(ready.status, 200, await ready.clone().text());
      assert.equal(((await ready.json()) as { status: string }).status, 'ready');
      assert.ok(vault.requests.some((r) => r.path === '/v1/secret/data/rampart/prod' && r.hadToken));
      assert.doesNotMatch(service.output(), new RegExp(`${SECRET_64}|${TOKEN}`));
    } finally {
      await service.stop();
    }
  });

  it('exits 78 naming the variable and the location when a reference cannot be read, without the secrets', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'service/src/main.ts'], {
      env: {
        ...childEnv(),
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
        PORT: '0',
        METRICS_PORT: '0',
        JWT_SECRET_REF: 'vault://secret/rampart/missing#jwt',
        DATABASE_URL: 'postgres://app:db-password-not-to-print@127.0.0.1:1/none',
        VAULT_ADDR: vault.url,
        VAULT_TOKEN: TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 78, output);
    assert.match(output, /configuration error: JWT_SECRET_REF: cannot read vault:\/\/secret\/rampart\/missing#jwt \(not_found: /);
    assert.doesNotMatch(output, /db-password-not-to-print|hvs\./);
  });
});
