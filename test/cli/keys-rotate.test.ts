import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { run as runKeys } from '../../cli/src/commands/keys.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CliError } from '../../cli/src/lib/errors.js';
import { keyringFromDocument } from '../../service/src/components/auth/keyring.js';
import {
  DEFAULT_CLOCK_TOLERANCE_MS,
  DEFAULT_MARGIN_MS,
  initialDocument,
  parseKeysDocument,
  type RotationTimings,
  serializeKeysDocument,
} from '../../service/src/components/auth/keys-document.js';
import { fakeClock, type FakeClock, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/client.js';
import { memorySecretStore, type MemorySecretStore } from '../helpers/memory-secret-store.js';
import { captureIo } from './capture.js';
import { TEST_PASSWORD as PASSWORD } from '../helpers/users.js';
import { makeTestCertificate } from '../helpers/tls-certificate.js';

const REF = 'vault://secret/rampart#jwt_keys';
const TTL_S = 900;
const timings: RotationTimings = {
  reloadIntervalMs: 60_000,
  tokenLifetimeMs: TTL_S * 1000,
  clockToleranceMs: DEFAULT_CLOCK_TOLERANCE_MS,
  marginMs: DEFAULT_MARGIN_MS,
};

function cli(store: MemorySecretStore, clock: FakeClock, json = true) {
  const captured = captureIo({});
  const ctx = createContext(captured.io, { json, databaseUrl: undefined }, async () => {
    throw new Error('no database for keys');
  });
  const deps = {
    store,
    now: () => clock.now(),
    sleep: async (ms: number) => clock.advance(ms),
  };
  return {
    stage: () => runKeys({ action: 'rotate', ref: REF, timings, phases: ['stage'], alg: 'EdDSA', replicas: [], wait: false, dryRun: false }, ctx, deps),
    promote: (wait = false) =>
      runKeys({ action: 'rotate', ref: REF, timings, phases: ['promote'], alg: 'EdDSA', replicas: [], wait, dryRun: false }, ctx, deps),
    prune: () => runKeys({ action: 'rotate', ref: REF, timings, phases: ['prune'], alg: 'EdDSA', replicas: [], wait: false, dryRun: false }, ctx, deps),
    list: () => runKeys({ action: 'list', ref: REF, timings }, ctx, deps),
    stdout: captured.stdout,
  };
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

describe('zero-downtime signing-key rotation across replicas', () => {
  let database: TestDatabase;
  let clock: FakeClock;
  let store: MemorySecretStore;
  let a: TestApp;
  let b: TestApp;
  let firstKid: string;

  before(async () => {
    database = await createTestDatabase();
    clock = fakeClock();
    const doc = await initialDocument({ alg: 'EdDSA', now: clock.now() });
    firstKid = doc.signing;
    store = memorySecretStore({ [REF]: serializeKeysDocument(doc) });
    // Each replica re-reads the store when told (the interval and SIGHUP triggers are tested elsewhere).
    const source = async () => keyringFromDocument(store.peek(REF) as string);
    const env = { JWT_KEYS: serializeKeysDocument(doc), JWT_KEYS_RELOAD_INTERVAL_SECONDS: '0', ACCESS_TOKEN_TTL_SECONDS: String(TTL_S) };
    a = await startTestApp({ listen: true, database, clock, env, keyringSource: source });
    b = await startTestApp({ listen: true, database, clock, env, keyringSource: source });
  });
  after(async () => {
    await a.close();
    await b.close();
    await database.drop();
  });

  it('keeps every token valid through stage → promote → prune, and prunes only once no token of the old key can be valid', async () => {
    const keys = cli(store, clock);
    const signup = await api(a.baseUrl, 'POST', '/v1/auth/signup', { json: { email: 'rotate@example.com', password: PASSWORD } });
    assert.equal(signup.status, 201);
    const beforeRotation = signup.body.access_token as string;
    assert.equal(kidOf(beforeRotation), firstKid);

    // stage: a verify-only key; replicas learn it before anything is signed with it.
    const staged = await keys.stage();
    const newKid = staged.phases?.[0]?.kid as string;
    assert.notEqual(newKid, firstKid);
    await a.deps.auth.reloadKeyring('manual');
    await b.deps.auth.reloadKeyring('manual');
    const jwks = await api(b.baseUrl, 'GET', '/.well-known/jwks.json');
    assert.deepEqual((jwks.body.keys as { kid: string }[]).map((k) => k.kid).sort(), [firstKid, newKid].sort());
    const login1 = await api(b.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'rotate@example.com', password: PASSWORD } });
    assert.equal(kidOf(login1.body.access_token), firstKid, 'a staged key does not sign');

    // promote too early: refused, nothing written.
    const writes = store.writes;
    await assert.rejects(keys.promote(), (err: unknown) => err instanceof CliError && err.code === 'keys_not_ready');
    assert.equal(store.writes, writes);
    // --wait sleeps one reload interval + margin, then promotes.
    const promoted = await keys.promote(true);
    assert.equal(promoted.phases?.[0]?.kid, newKid);
    const waited = promoted.phases?.[0]?.waited_ms as number;
    assert.ok(waited > timings.reloadIntervalMs && waited <= timings.reloadIntervalMs + timings.marginMs, `waited ${waited} ms`);
    const promotedAt = clock.now().getTime();

    // Replica A reloads at once; B lags (it reloads within one interval): both tokens verify everywhere.
    await a.deps.auth.reloadKeyring('manual');
    const fromA = await api(a.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'rotate@example.com', password: PASSWORD } });
    const fromLaggingB = await api(b.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'rotate@example.com', password: PASSWORD } });
    assert.equal(kidOf(fromA.body.access_token), newKid);
    assert.equal(kidOf(fromLaggingB.body.access_token), firstKid, 'B has not reloaded yet');
    for (const app of [a, b]) {
      for (const token of [beforeRotation, fromA.body.access_token, fromLaggingB.body.access_token]) {
        assert.equal((await api(app.baseUrl, 'GET', '/v1/me', { token })).status, 200);
      }
    }
    clock.advance(timings.reloadIntervalMs - 1000);
    const lastOldToken = (await api(b.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'rotate@example.com', password: PASSWORD } })).body
      .access_token as string;
    assert.equal(kidOf(lastOldToken), firstKid);
    await b.deps.auth.reloadKeyring('interval');

    // prune before the old key's last token can have expired: kept.
    clock.advance(TTL_S * 1000 + DEFAULT_CLOCK_TOLERANCE_MS - 2000);
    assert.equal((await api(a.baseUrl, 'GET', '/v1/me', { token: lastOldToken })).status, 200, 'still within its lifetime');
    const early = await keys.prune();
    assert.deepEqual(early.phases?.[0]?.removed, []);
    assert.equal(early.phases?.[0]?.kept?.[0]?.kid, firstKid);

    // After reload interval + TTL + tolerance + margin since promote: removed; those tokens had expired anyway.
    clock.advance(promotedAt + timings.reloadIntervalMs + timings.tokenLifetimeMs + timings.clockToleranceMs + timings.marginMs - clock.now().getTime());
    assert.equal((await api(a.baseUrl, 'GET', '/v1/me', { token: lastOldToken })).status, 401, 'expired by now');
    const pruned = await keys.prune();
    assert.deepEqual(pruned.phases?.[0]?.removed, [firstKid]);
    await a.deps.auth.reloadKeyring('manual');
    assert.deepEqual(parseKeysDocument(store.peek(REF) as string).keys.map((k) => k.kid), [newKid]);
    const fresh = await api(a.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'rotate@example.com', password: PASSWORD } });
    assert.equal((await api(b.baseUrl, 'GET', '/v1/me', { token: fresh.body.access_token })).status, 200);

    // Every phase re-run is a no-op.
    const writesBefore = store.writes;
    assert.equal((await keys.promote()).phases?.[0]?.changed, false);
    assert.equal((await keys.prune()).phases?.[0]?.changed, false);
    assert.equal(store.writes, writesBefore);
  });

  it('a refresh retried just after a promote gets the successor it was first given', async () => {
    const keys = cli(store, clock);
    await keys.stage();
    clock.advance(timings.reloadIntervalMs + timings.marginMs);
    const signup = await api(a.baseUrl, 'POST', '/v1/auth/signup', { json: { email: 'retry@example.com', password: PASSWORD } });
    const first = await api(a.baseUrl, 'POST', '/v1/auth/refresh', { json: { refresh_token: signup.body.refresh_token } });
    assert.equal(first.status, 200);
    // The response is lost; the client retries within REFRESH_REUSE_GRACE_SECONDS, across a promote.
    await keys.promote();
    await a.deps.auth.reloadKeyring('manual');
    const retried = await api(a.baseUrl, 'POST', '/v1/auth/refresh', { json: { refresh_token: signup.body.refresh_token } });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.refresh_token, first.body.refresh_token);
  });

  it('two rotations that collide: one lands, the other fails without writing and succeeds when re-run', async () => {
    const doc = await initialDocument({ alg: 'HS256', now: clock.now() });
    const racing = memorySecretStore({ [REF]: serializeKeysDocument(doc) });
    // Both read before either writes.
    let readers = 0;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const read = racing.read.bind(racing);
    racing.read = async (ref) => {
      const value = await read(ref);
      if (++readers === 2) release();
      await bothRead;
      return value;
    };
    const results = await Promise.allSettled([cli(racing, clock).stage(), cli(racing, clock).stage()]);
    const rejected = results.filter((r) => r.status === 'rejected');
    assert.equal(rejected.length, 1, 'exactly one loses');
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    assert.ok(reason instanceof CliError && reason.code === 'secret_conflict', String(reason));
    assert.match(reason.message, /re-run this phase/);
    assert.equal(parseKeysDocument(racing.peek(REF) as string).keys.length, 2, 'one staged key, not two');
    racing.read = read;
    const rerun = await cli(racing, clock).stage();
    assert.equal(rerun.phases?.[0]?.changed, false, 'the re-run finds the key the winner staged');
  });

  it('promote --replica goes ahead as soon as every replica reports the staged key, and refuses while one does not', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: clock.now() });
    const replicaStore = memorySecretStore({ [REF]: serializeKeysDocument(doc) });
    const staged = await cli(replicaStore, clock).stage();
    const kid = staged.phases?.[0]?.kid as string;
    const metrics = (kids: string[]) =>
      createServer((_req, res) => {
        res.end(`# TYPE jwt_keyring_keys gauge\n${kids.map((k) => `jwt_keyring_keys{kid="${k}",alg="EdDSA",role="verify"} 1`).join('\n')}\n`);
      });
    const ready = metrics([doc.signing, kid]).listen(0, '127.0.0.1');
    const lagging = metrics([doc.signing]).listen(0, '127.0.0.1');
    await Promise.all([ready, lagging].map((srv) => new Promise((r) => srv.once('listening', r))));
    const url = (srv: ReturnType<typeof createServer>) => `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const captured = captureIo({});
    const ctx = createContext(captured.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const promoteVia = (replicas: string[]) =>
      runKeys(
        { action: 'rotate', ref: REF, timings, phases: ['promote'], alg: 'EdDSA', replicas, wait: false, dryRun: false },
        ctx,
        { store: replicaStore, now: () => clock.now(), sleep: async () => undefined },
      );
    try {
      const writes = replicaStore.writes;
      await assert.rejects(
        promoteVia([url(ready), url(lagging)]),
        (err: unknown) => err instanceof CliError && err.code === 'keys_replicas_not_ready' && err.message.includes(url(lagging)),
      );
      assert.equal(replicaStore.writes, writes, 'nothing written');
      // Well before one reload interval has passed: the replicas' own word is enough.
      const promoted = await promoteVia([url(ready)]);
      assert.equal(promoted.phases?.[0]?.kid, kid);
      assert.equal(parseKeysDocument(replicaStore.peek(REF) as string).signing, kid);
    } finally {
      ready.close();
      lagging.close();
    }
  });

  it('promote --replica checks https:// replicas against --replica-ca under --replica-server-name, and refuses an unverified one', async (t) => {
    const doc = await initialDocument({ alg: 'EdDSA', now: clock.now() });
    const replicaStore = memorySecretStore({ [REF]: serializeKeysDocument(doc) });
    const staged = await cli(replicaStore, clock).stage();
    const kid = staged.phases?.[0]?.kid as string;
    const certificate = makeTestCertificate('rampart-metrics-test'); // SAN: 127.0.0.1, localhost
    t.after(() => certificate.dispose());
    const server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, (_req, res) => {
      res.end(`# TYPE jwt_keyring_keys gauge\njwt_keyring_keys{kid="${kid}",alg="EdDSA",role="verify"} 1\n`);
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    t.after(() => server.close());
    const replica = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ctx = createContext(captureIo({}).io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const promoteVia = (replicaTls?: { caFile?: string; serverName?: string }) =>
      runKeys(
        { action: 'rotate', ref: REF, timings, phases: ['promote'], alg: 'EdDSA', replicas: [replica], replicaTls, wait: false, dryRun: false },
        ctx,
        { store: replicaStore, now: () => clock.now(), sleep: async () => undefined },
      );
    const notReady = (err: unknown) => err instanceof CliError && err.code === 'keys_replicas_not_ready';
    await assert.rejects(promoteVia(), notReady, 'a self-signed certificate is not trusted by default');
    await assert.rejects(promoteVia({ caFile: certificate.certFile, serverName: 'rampart-metrics' }), notReady, 'the certificate does not carry that name');
    const promoted = await promoteVia({ caFile: certificate.certFile, serverName: 'localhost' });
    assert.equal(promoted.phases?.[0]?.kid, kid);
    assert.equal(parseKeysDocument(replicaStore.peek(REF) as string).signing, kid);
  });

  it('remove takes a verify-only key out at once, never the signing key', async () => {
    const doc = await initialDocument({ alg: 'EdDSA', now: clock.now() });
    const leakStore = memorySecretStore({ [REF]: serializeKeysDocument(doc) });
    const staged = await cli(leakStore, clock).stage();
    const kid = staged.phases?.[0]?.kid as string;
    const captured = captureIo({});
    const ctx = createContext(captured.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const remove = (k: string) => runKeys({ action: 'remove', ref: REF, timings, kid: k, dryRun: false }, ctx, { store: leakStore });
    await assert.rejects(remove(doc.signing), (err: unknown) => err instanceof CliError && err.code === 'keys_signing_key');
    await remove(kid);
    assert.deepEqual(parseKeysDocument(leakStore.peek(REF) as string).keys.map((k) => k.kid), [doc.signing]);
    const writes = leakStore.writes;
    await remove(kid);
    assert.equal(leakStore.writes, writes, 'removing an absent key writes nothing');
  });

  it('list shows kids, roles and ages; --json is one document without key material', async () => {
    const keys = cli(store, clock, true);
    const listed = await keys.list();
    assert.ok(listed.keys.some((k) => k.role === 'signing'));
    const doc = JSON.parse(keys.stdout());
    assert.ok(Array.isArray(doc.keys));
    assert.doesNotMatch(keys.stdout(), /"d"|"k":/, 'no private key material printed');
  });
});
