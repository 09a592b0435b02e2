import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseSecretReference } from '../../../../service/src/platform/secrets/reference.js';
import { createSecretStore } from '../../../../service/src/platform/secrets/store.js';
import { type FakeAws, startFakeAws } from '../../../helpers/fake-aws.js';
import { isSecretError } from '../../../helpers/secret-errors.js';

const CREDENTIALS = { accessKeyId: 'AKIARAMPARTTEST00001', secretAccessKey: 'test-secret-access-key-0000000000000000' };
const DENIED = { accessKeyId: 'AKIARAMPARTDENIED001', secretAccessKey: 'denied-secret-access-key-00000000000000' };


const ref = (text: string) => parseSecretReference(text);

describe('AWS providers against a local AWS JSON 1.1 server', () => {
  let aws: FakeAws;
  let store: ReturnType<typeof createSecretStore>;
  const storeWith = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
    createSecretStore({ aws: { region: 'eu-west-1', endpoint: aws.url, credentials, timeoutMs: 2000 } });

  before(async () => {
    aws = await startFakeAws({ ...CREDENTIALS, deniedKeys: [DENIED] });
    store = storeWith(CREDENTIALS);
  });
  after(() => aws.close());

  describe('aws-sm://', () => {
    it('reads a whole SecretString with its VersionId', async () => {
      const versionId = aws.putSecret('rampart/jwt', 'whole-secret-value');
      assert.deepEqual(await store.read(ref('aws-sm://rampart/jwt')), { value: 'whole-secret-value', version: versionId });
      assert.equal(aws.operations.at(-1), 'secretsmanager.GetSecretValue');
    });

    it('reads a field of a JSON secret, by name or by ARN', async () => {
      aws.putSecret('rampart/db', JSON.stringify({ url: 'postgres://app@db/rampart', username: 'app' }));
      assert.equal((await store.read(ref('aws-sm://rampart/db#url'))).value, 'postgres://app@db/rampart');
      // The fake's ARN suffix, like AWS's six random characters, is derived from the name.
      const arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:rampart/db-${createHash('sha256').update('rampart/db').digest('hex').slice(0, 6)}`;
      const { value } = await store.read(ref(`aws-sm://${arn}#username`));
      assert.equal(value, 'app');
    });

    it('writes a field by read-modify-write: other fields kept, a new VersionId', async () => {
      aws.putSecret('rampart/rw', JSON.stringify({ url: 'old', keep: 'me' }));
      const before = await store.read(ref('aws-sm://rampart/rw#url'));
      const { version } = await store.write(ref('aws-sm://rampart/rw#url'), 'new', { expectedVersion: before.version });
      assert.ok(version && version !== before.version);
      assert.deepEqual(JSON.parse(aws.secretString('rampart/rw') as string), { url: 'new', keep: 'me' });
      assert.equal(aws.operations.at(-1), 'secretsmanager.PutSecretValue');
    });

    it('creates a secret that does not exist (whole string and JSON field)', async () => {
      const { version } = await store.write(ref('aws-sm://rampart/created'), 'first', { expectedVersion: null });
      assert.ok(version);
      assert.equal(aws.secretString('rampart/created'), 'first');
      assert.equal(aws.operations.at(-1), 'secretsmanager.CreateSecret');
      await store.write(ref('aws-sm://rampart/created-json#token'), 't0');
      assert.deepEqual(JSON.parse(aws.secretString('rampart/created-json') as string), { token: 't0' });
      // An unconditional whole-string write to a missing secret creates it too.
      await store.write(ref('aws-sm://rampart/created-blind'), 'blind');
      assert.equal(aws.secretString('rampart/created-blind'), 'blind');
    });

    it('check-and-set (best-effort): a stale VersionId or an existing secret for null is a conflict', async () => {
      aws.putSecret('rampart/cas', 'one');
      const read = await store.read(ref('aws-sm://rampart/cas'));
      aws.putSecret('rampart/cas', 'someone-else');
      await assert.rejects(store.write(ref('aws-sm://rampart/cas'), 'mine', { expectedVersion: read.version }), isSecretError('conflict'));
      await assert.rejects(store.write(ref('aws-sm://rampart/cas'), 'mine', { expectedVersion: null }), isSecretError('conflict', /already exists/));
      assert.equal(aws.secretString('rampart/cas'), 'someone-else');
    });

    it('a missing secret or field is not found; a non-JSON secret has no fields', async () => {
      await assert.rejects(store.read(ref('aws-sm://rampart/absent')), isSecretError('not_found'));
      aws.putSecret('rampart/fields', JSON.stringify({ a: '1' }));
      await assert.rejects(store.read(ref('aws-sm://rampart/fields#b')), isSecretError('not_found', /no field "b"/));
      aws.putSecret('rampart/plain', 'not-json');
      await assert.rejects(store.read(ref('aws-sm://rampart/plain#a')), isSecretError('invalid_value', /not a JSON object/));
    });
  });

  describe('aws-ssm://', () => {
    it('reads a SecureString decrypted, with its version', async () => {
      aws.putParameter('/rampart/jwt-secret', 'ssm-secret');
      aws.putParameter('/rampart/jwt-secret', 'ssm-secret-2');
      assert.deepEqual(await store.read(ref('aws-ssm:///rampart/jwt-secret')), { value: 'ssm-secret-2', version: '2' });
    });

    it('writes a SecureString, overwriting, and creates one that does not exist', async () => {
      const created = await store.write(ref('aws-ssm:///rampart/new'), 'v1', { expectedVersion: null });
      assert.equal(created.version, '1');
      const next = await store.write(ref('aws-ssm:///rampart/new'), 'v2', { expectedVersion: '1' });
      assert.equal(next.version, '2');
      assert.deepEqual(aws.parameter('/rampart/new'), { value: 'v2', version: 2, type: 'SecureString' });
      assert.equal((await store.write(ref('aws-ssm:///rampart/new'), 'v3')).version, '3');
    });

    it('check-and-set: a stale version, or an existing parameter for null, is a conflict', async () => {
      aws.putParameter('/rampart/cas', 'a');
      aws.putParameter('/rampart/cas', 'b');
      await assert.rejects(store.write(ref('aws-ssm:///rampart/cas'), 'x', { expectedVersion: '1' }), isSecretError('conflict'));
      await assert.rejects(store.write(ref('aws-ssm:///rampart/cas'), 'x', { expectedVersion: null }), isSecretError('conflict', /already exists/));
      assert.equal(aws.parameter('/rampart/cas')?.value, 'b');
    });

    it('a missing parameter is not found', async () => {
      await assert.rejects(store.read(ref('aws-ssm:///rampart/absent')), isSecretError('not_found'));
    });
  });

  describe('authentication failures', () => {
    it('an unknown access key is auth_failed, and the keys are not in the message', async () => {
      const bad = storeWith({ accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'whatever-secret-key' });
      aws.putSecret('rampart/auth', 'x');
      await assert.rejects(bad.read(ref('aws-sm://rampart/auth')), (err: unknown) => {
        isSecretError('auth_failed', /UnrecognizedClientException/)(err);
        assert.doesNotMatch((err as Error).message, /AKIA|whatever/);
        return true;
      });
    });

    it('a wrong secret access key fails the signature check: auth_failed', async () => {
      const bad = storeWith({ accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-right-secret' });
      await assert.rejects(bad.read(ref('aws-ssm:///rampart/jwt-secret')), isSecretError('auth_failed', /InvalidSignatureException/));
    });

    it('a known identity without permission is auth_failed (AccessDeniedException)', async () => {
      const denied = storeWith(DENIED);
      await assert.rejects(denied.write(ref('aws-ssm:///rampart/jwt-secret'), 'x'), isSecretError('auth_failed', /AccessDeniedException/));
    });
  });

  it('without a region anywhere an aws reference is not_configured', async () => {
    // The SDK looks for a region in AWS_REGION and the shared config files; this test gives it none.
    const noRegion = createSecretStore({ aws: { endpoint: aws.url, credentials: CREDENTIALS } });
    const saved = { region: process.env.AWS_REGION, config: process.env.AWS_CONFIG_FILE, defaultRegion: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
    try {
      await assert.rejects(noRegion.read(ref('aws-ssm:///rampart/jwt-secret')), isSecretError('not_configured', /AWS_REGION/));
    } finally {
      for (const [k, v] of [['AWS_REGION', saved.region], ['AWS_CONFIG_FILE', saved.config], ['AWS_DEFAULT_REGION', saved.defaultRegion]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('an endpoint that refuses connections is unavailable', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const down = createSecretStore({
      aws: { region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, credentials: CREDENTIALS, timeoutMs: 500, maxAttempts: 1 },
    });
    await assert.rejects(down.read(ref('aws-sm://rampart/jwt')), isSecretError('unavailable'));
  });
});
