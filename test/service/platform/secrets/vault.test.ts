import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSecretReference } from '../../../../service/src/platform/secrets/reference.js';
import { createSecretStore, secretStoreFromEnv } from '../../../../service/src/platform/secrets/store.js';
import { type FakeVault, startFakeVault } from '../../../helpers/fake-vault.js';
import { isSecretError } from '../../../helpers/secret-errors.js';
import { freePort } from '../../../helpers/private-postgres.js';

const TOKEN = 'hvs.test-root-token';
const READ_ONLY = 'hvs.read-only-token';
const SA_JWT = 'eyJhbGciOiJSUzI1NiJ9.service-account.signature';


const ref = (text: string) => parseSecretReference(text);

describe('vault:// with token auth', () => {
  let vault: FakeVault;
  let store: ReturnType<typeof createSecretStore>;

  before(async () => {
    vault = await startFakeVault({ tokens: [TOKEN], readOnlyTokens: [READ_ONLY], namespace: 'team-a' });
    store = createSecretStore({ vault: { address: vault.url, token: TOKEN, namespace: 'team-a' } });
  });
  after(() => vault.close());

  it('reads one key of a KV v2 secret with its version, sending the token and namespace as headers only', async () => {
    vault.put('secret', 'rampart/jwt', { value: 'signing-secret', other: 'x' });
    vault.put('secret', 'rampart/jwt', { value: 'signing-secret-2', other: 'x' });
    assert.deepEqual(await store.read(ref('vault://secret/rampart/jwt#value')), { value: 'signing-secret-2', version: '2' });
    const last = vault.requests.at(-1);
    assert.equal(last?.path, '/v1/secret/data/rampart/jwt');
    assert.equal(last?.namespace, 'team-a');
    assert.equal(last?.hadToken, true);
  });

  it('writes by read-modify-write: the key changes, the other keys stay, the version moves on', async () => {
    vault.put('secret', 'rampart/db', { url: 'postgres://old', owner: 'platform' });
    const { version } = await store.write(ref('vault://secret/rampart/db#url'), 'postgres://new');
    assert.equal(version, '2');
    assert.deepEqual(vault.latest('secret', 'rampart/db'), { data: { url: 'postgres://new', owner: 'platform' }, version: 2 });
  });

  it('creates a secret that does not exist yet', async () => {
    const { version } = await store.write(ref('vault://secret/new/one#k'), 'v', { expectedVersion: null });
    assert.equal(version, '1');
    assert.deepEqual(await store.read(ref('vault://secret/new/one#k')), { value: 'v', version: '1' });
  });

  it('check-and-set: a write against a stale version is a conflict and changes nothing', async () => {
    vault.put('secret', 'cas/a', { k: 'one' });
    const read = await store.read(ref('vault://secret/cas/a#k'));
    vault.put('secret', 'cas/a', { k: 'someone-else' });
    await assert.rejects(
      store.write(ref('vault://secret/cas/a#k'), 'mine', { expectedVersion: read.version }),
      isSecretError('conflict', /changed since it was read/),
    );
    assert.equal(vault.latest('secret', 'cas/a')?.data.k, 'someone-else');
    await assert.rejects(store.write(ref('vault://secret/cas/a#k'), 'again', { expectedVersion: null }), isSecretError('conflict', /already exists/));
  });

  it("concurrent writers: Vault's cas makes all but one of them fail with conflict, none is lost silently", async () => {
    vault.put('secret', 'cas/race', { k: 'base' });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => store.write(ref(`vault://secret/cas/race#k${i}`), `writer-${i}`)),
    );
    const won = results.filter((r) => r.status === 'fulfilled').length;
    assert.ok(won >= 1);
    for (const r of results) if (r.status === 'rejected') isSecretError('conflict', /check-and-set/)(r.reason);
    // Every successful write is still there: no writer overwrote another's key.
    const data = vault.latest('secret', 'cas/race')?.data ?? {};
    assert.equal(Object.keys(data).filter((k) => k.startsWith('k')).length, 1 + won);
  });

  it('reports a missing secret, a missing key and a deleted latest version as not found', async () => {
    await assert.rejects(store.read(ref('vault://secret/absent#k')), isSecretError('not_found'));
    vault.put('secret', 'has/keys', { a: '1' });
    await assert.rejects(store.read(ref('vault://secret/has/keys#b')), isSecretError('not_found', /no key "b"/));
    vault.deleteLatest('secret', 'has/keys');
    await assert.rejects(store.read(ref('vault://secret/has/keys#a')), isSecretError('not_found'));
    // Writing after a deletion uses the version in the metadata as cas and succeeds.
    const { version } = await store.write(ref('vault://secret/has/keys#a'), '2');
    assert.equal(version, '2');
  });

  it('a value that is not a string is refused', async () => {
    vault.put('secret', 'typed', { n: 42 });
    await assert.rejects(store.read(ref('vault://secret/typed#n')), isSecretError('invalid_value'));
  });

  it('a wrong token is auth_failed with a message naming the secret and what to check, never the token', async () => {
    const bad = createSecretStore({ vault: { address: vault.url, token: 'hvs.wrong', namespace: 'team-a' } });
    await assert.rejects(bad.read(ref('vault://secret/rampart/jwt#value')), (err: unknown) => {
      isSecretError('auth_failed', /vault:\/\/secret\/rampart\/jwt.*403 permission denied.*VAULT_TOKEN/)(err);
      assert.doesNotMatch((err as Error).message, /hvs\./);
      return true;
    });
  });

  it('a token without write permission can read but not write', async () => {
    const reader = createSecretStore({ vault: { address: vault.url, token: READ_ONLY, namespace: 'team-a' } });
    assert.equal((await reader.read(ref('vault://secret/rampart/jwt#value'))).value, 'signing-secret-2');
    await assert.rejects(reader.write(ref('vault://secret/rampart/jwt#value'), 'x'), isSecretError('auth_failed', /denied write/));
  });

  it('reads the token from VAULT_TOKEN_FILE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rampart-vault-'));
    try {
      await writeFile(join(dir, 'token'), `${TOKEN}\n`);
      const fromEnv = secretStoreFromEnv({ VAULT_ADDR: vault.url, VAULT_TOKEN_FILE: join(dir, 'token'), VAULT_NAMESPACE: 'team-a' });
      assert.equal((await fromEnv.read(ref('vault://secret/rampart/jwt#value'))).value, 'signing-secret-2');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('vault:// over plain http in production (TLS on every hop)', () => {
  let vault: FakeVault;
  before(async () => {
    vault = await startFakeVault({ tokens: [TOKEN], namespace: 'team-a' });
    vault.put('secret', 'rampart/jwt', { value: 'signing-secret' });
  });
  after(() => vault.close());

  it('is refused before any request is sent (the token never crosses the network), unless ALLOW_PLAINTEXT names secrets', async () => {
    assert.match(vault.url, /^http:/);
    const env = { VAULT_ADDR: vault.url, VAULT_TOKEN: TOKEN, VAULT_NAMESPACE: 'team-a', NODE_ENV: 'production' };
    const before = vault.requests.length;
    await assert.rejects(
      secretStoreFromEnv(env).read(ref('vault://secret/rampart/jwt#value')),
      isSecretError('not_configured', /^VAULT_ADDR is not an https:\/\/ URL: production does not send secrets or credentials in plaintext.*ALLOW_PLAINTEXT=secrets/),
    );
    assert.equal(vault.requests.length, before, 'no request reached Vault');
    const allowed = secretStoreFromEnv({ ...env, ALLOW_PLAINTEXT: 'redis, secrets' });
    assert.equal((await allowed.read(ref('vault://secret/rampart/jwt#value'))).value, 'signing-secret');
    // Outside production the address is the operator's business (local development, the tests).
    assert.equal((await secretStoreFromEnv({ ...env, NODE_ENV: 'development' }).read(ref('vault://secret/rampart/jwt#value'))).value, 'signing-secret');
  });
});

describe('vault:// with Kubernetes auth', () => {
  let vault: FakeVault;
  let dir: string;

  before(async () => {
    vault = await startFakeVault({ kubernetes: { mount: 'k8s-prod', role: 'rampart', jwt: SA_JWT, leaseSeconds: 3600 } });
    vault.put('secret', 'rampart/jwt', { value: 'from-k8s-auth' });
    dir = await mkdtemp(join(tmpdir(), 'rampart-vault-k8s-'));
    await writeFile(join(dir, 'token'), SA_JWT);
  });
  after(async () => {
    await vault.close();
    await rm(dir, { recursive: true, force: true });
  });

  const k8sStore = (role = 'rampart') =>
    secretStoreFromEnv({
      VAULT_ADDR: vault.url,
      VAULT_K8S_ROLE: role,
      VAULT_K8S_MOUNT: 'k8s-prod',
      VAULT_K8S_TOKEN_PATH: join(dir, 'token'),
    });

  it('logs in once with the service-account token and reuses the client token until its lease ends', async () => {
    const store = k8sStore();
    const before = vault.issuedTokens.length;
    assert.equal((await store.read(ref('vault://secret/rampart/jwt#value'))).value, 'from-k8s-auth');
    await store.read(ref('vault://secret/rampart/jwt#value'));
    assert.equal(vault.issuedTokens.length, before + 1);
    assert.equal(vault.requests.filter((r) => r.path === '/v1/auth/k8s-prod/login').length, before + 1);
  });

  it('logs in again once the lease has run out (a fake clock, no sleeping)', async () => {
    let clock = 1_000_000;
    const store = createSecretStore({
      vault: {
        address: vault.url,
        kubernetes: { role: 'rampart', mount: 'k8s-prod', tokenPath: join(dir, 'token') },
        now: () => clock,
      },
    });
    const before = vault.issuedTokens.length;
    await store.read(ref('vault://secret/rampart/jwt#value'));
    clock += 3000 * 1000; // 3000 s of a 3600 s lease: still cached
    await store.read(ref('vault://secret/rampart/jwt#value'));
    assert.equal(vault.issuedTokens.length, before + 1);
    clock += 600 * 1000; // past 90 % of the lease: renewed before it ends
    await store.read(ref('vault://secret/rampart/jwt#value'));
    assert.equal(vault.issuedTokens.length, before + 2);
  });

  it('concurrent reads without a token yet share one login', async () => {
    const store = k8sStore();
    const before = vault.issuedTokens.length;
    const values = await Promise.all(Array.from({ length: 5 }, () => store.read(ref('vault://secret/rampart/jwt#value'))));
    assert.deepEqual(new Set(values.map((v) => v.value)), new Set(['from-k8s-auth']));
    assert.equal(vault.issuedTokens.length, before + 1);
  });

  it('logs in again once when Vault answers 403 to a cached token (revoked)', async () => {
    const store = k8sStore();
    await store.read(ref('vault://secret/rampart/jwt#value'));
    const first = vault.issuedTokens.at(-1) as string;
    vault.revokeToken(first);
    assert.equal((await store.read(ref('vault://secret/rampart/jwt#value'))).value, 'from-k8s-auth');
    assert.notEqual(vault.issuedTokens.at(-1), first);
  });

  it('an unknown role is auth_failed naming the role', async () => {
    await assert.rejects(k8sStore('nobody').read(ref('vault://secret/rampart/jwt#value')), isSecretError('auth_failed', /role "nobody".*invalid role name/));
  });

  it('a service-account token Vault does not accept is auth_failed, and the JWT is not in the message', async () => {
    await writeFile(join(dir, 'wrong'), 'eyJ.wrong.jwt');
    const store = secretStoreFromEnv({ VAULT_ADDR: vault.url, VAULT_K8S_ROLE: 'rampart', VAULT_K8S_MOUNT: 'k8s-prod', VAULT_K8S_TOKEN_PATH: join(dir, 'wrong') });
    await assert.rejects(store.read(ref('vault://secret/rampart/jwt#value')), (err: unknown) => {
      isSecretError('auth_failed', /403 permission denied/)(err);
      assert.doesNotMatch((err as Error).message, /eyJ/);
      return true;
    });
  });

  it('a missing service-account token file is auth_failed naming the path', async () => {
    const store = secretStoreFromEnv({ VAULT_ADDR: vault.url, VAULT_K8S_ROLE: 'rampart', VAULT_K8S_TOKEN_PATH: join(dir, 'absent') });
    await assert.rejects(store.read(ref('vault://secret/rampart/jwt#value')), isSecretError('auth_failed', /service-account token/));
  });
});

describe('vault:// when Vault is not there', () => {
  it('a refused connection is unavailable', async () => {
    const port = await freePort();
    const store = createSecretStore({ vault: { address: `http://127.0.0.1:${port}`, token: TOKEN } });
    await assert.rejects(store.read(ref('vault://secret/a/b#k')), isSecretError('unavailable', /unreachable/));
  });

  it('a server that does not answer is unavailable once the timeout passes', async () => {
    const vault = await startFakeVault({ tokens: [TOKEN] });
    try {
      vault.setLatency(5_000);
      const store = createSecretStore({ vault: { address: vault.url, token: TOKEN, timeoutMs: 200 } });
      const started = performance.now();
      await assert.rejects(store.read(ref('vault://secret/a/b#k')), isSecretError('unavailable', /did not answer within 200 ms/));
      assert.ok(performance.now() - started < 4_000, 'gave up at its timeout, not the server’s pace');
    } finally {
      await vault.close();
    }
  });

  it('a redirect (a standby node) is not followed with the token: unavailable, with what to do', async () => {
    const requests: (string | undefined)[] = [];
    const server = createHttpServer((req, res) => {
      requests.push(req.headers['x-vault-token'] as string | undefined);
      res.writeHead(307, { location: 'http://127.0.0.2:1/v1/secret/data/a/b' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const store = createSecretStore({ vault: { address: `http://127.0.0.1:${port}`, token: TOKEN } });
      await assert.rejects(store.read(ref('vault://secret/a/b#k')), isSecretError('unavailable', /redirect \(307\).*VAULT_ADDR/));
      assert.equal(requests.length, 1);
    } finally {
      server.close();
    }
  });

  it('without VAULT_ADDR a vault:// reference is not_configured', async () => {
    await assert.rejects(secretStoreFromEnv({}).read(ref('vault://secret/a/b#k')), isSecretError('not_configured', /VAULT_ADDR/));
  });

  it('with VAULT_ADDR but no token or role it is not_configured', async () => {
    await assert.rejects(
      secretStoreFromEnv({ VAULT_ADDR: 'http://127.0.0.1:1' }).read(ref('vault://secret/a/b#k')),
      isSecretError('not_configured', /VAULT_TOKEN/),
    );
  });
});

