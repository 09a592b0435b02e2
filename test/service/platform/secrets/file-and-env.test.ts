import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSecretReference } from '../../../../service/src/platform/secrets/reference.js';
import { createSecretStore } from '../../../../service/src/platform/secrets/store.js';
import { SecretError } from '../../../../service/src/platform/secrets/types.js';

const isCode = (code: SecretError['code']) => (err: unknown) => err instanceof SecretError && err.code === code;

describe('env: references', () => {
  const store = createSecretStore({ env: { RAMPART_DB: 'postgres://u:p@h/db', EMPTY: '' } });

  it('read the variable of the environment the store was built with, without a version', async () => {
    assert.deepEqual(await store.read(parseSecretReference('env:RAMPART_DB')), { value: 'postgres://u:p@h/db', version: undefined });
  });

  it('treat an unset or empty variable as not found', async () => {
    await assert.rejects(store.read(parseSecretReference('env:MISSING')), isCode('not_found'));
    await assert.rejects(store.read(parseSecretReference('env:EMPTY')), isCode('not_found'));
  });

  it('cannot be written', async () => {
    await assert.rejects(store.write(parseSecretReference('env:RAMPART_DB'), 'x'), isCode('read_only'));
  });
});

describe('file: references', () => {
  let dir: string;
  const store = createSecretStore();
  const ref = (name: string) => parseSecretReference(`file:${join(dir, name)}`);
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-secrets-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('read the content with its trailing newline dropped, versioned by the hash of the bytes', async () => {
    await writeFile(join(dir, 'mounted'), 'value-from-a-volume\n');
    assert.deepEqual(await store.read(ref('mounted')), { value: 'value-from-a-volume', version: sha('value-from-a-volume\n') });
  });

  it('report a missing file as not found', async () => {
    await assert.rejects(store.read(ref('absent')), isCode('not_found'));
  });

  it('write atomically: mode 0600, no temporary file left, the new version returned', async () => {
    const { version } = await store.write(ref('written'), 's3cret-value');
    assert.equal(version, sha('s3cret-value'));
    assert.equal(await readFile(join(dir, 'written'), 'utf8'), 's3cret-value');
    assert.equal((await stat(join(dir, 'written'))).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('written')), ['written']);
    assert.deepEqual(await store.read(ref('written')), { value: 's3cret-value', version });
  });

  it('replace an existing file keeping its owner, group and mode, less any access for others', async () => {
    await writeFile(join(dir, 'loose'), 'old', { mode: 0o644 });
    await chmod(join(dir, 'loose'), 0o644);
    await store.write(ref('loose'), 'new');
    assert.equal((await stat(join(dir, 'loose'))).mode & 0o777, 0o640, 'the group keeps reading it; others lose access');
  });

  it('a rotated file stays readable by the service that reads it through its group (owner and group kept)', async () => {
    const path = join(dir, 'group-read');
    await writeFile(path, 'old key');
    await chmod(path, 0o640);
    if (process.getuid?.() === 0) {
      await chown(path, 12345, 23456); // the service's account and group (e.g. a Kubernetes fsGroup)
      await store.write(ref('group-read'), 'new key');
      const after = await stat(path);
      assert.deepEqual([after.uid, after.gid, after.mode & 0o777], [12345, 23456, 0o640]);
      assert.equal(await readFile(path, 'utf8'), 'new key');
    } else {
      // Not root (only root can make a file of another owner here): the group's read access is kept.
      await store.write(ref('group-read'), 'new key');
      assert.equal((await stat(path)).mode & 0o777, 0o640);
      assert.equal(await readFile(path, 'utf8'), 'new key');
    }
  });

  it('check-and-set: succeed against the version read, conflict once someone else wrote', async () => {
    const { version: v1 } = await store.write(ref('cas'), 'one');
    const { version: v2 } = await store.write(ref('cas'), 'two', { expectedVersion: v1 });
    await assert.rejects(store.write(ref('cas'), 'three', { expectedVersion: v1 }), isCode('conflict'));
    assert.equal((await store.read(ref('cas'))).value, 'two');
    await store.write(ref('cas'), 'three', { expectedVersion: v2 });
    assert.equal((await store.read(ref('cas'))).value, 'three');
  });

  it('check-and-set against a file that was removed meanwhile is a conflict', async () => {
    const { version } = await store.write(ref('vanishing'), 'here');
    await rm(join(dir, 'vanishing'));
    await assert.rejects(store.write(ref('vanishing'), 'back', { expectedVersion: version }), /no longer exists/);
  });

  it('check-and-set with null: create only when the file does not exist', async () => {
    await store.write(ref('fresh'), 'first', { expectedVersion: null });
    await assert.rejects(store.write(ref('fresh'), 'second', { expectedVersion: null }), isCode('conflict'));
    assert.equal((await store.read(ref('fresh'))).value, 'first');
  });

  it('two concurrent check-and-set writers from the same version: exactly one wins', async () => {
    const { version } = await store.write(ref('race'), 'base');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.write(ref('race'), `writer-${i}`, { expectedVersion: version })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(isCode('conflict')(r.reason));
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.lock')), 'the lock is released');
  });

  it('break a lock left behind by a crashed writer', async () => {
    const { version } = await store.write(ref('stale'), 'base');
    const lock = join(dir, 'stale.lock');
    await writeFile(lock, '');
    await assert.rejects(store.write(ref('stale'), 'blocked', { expectedVersion: version }), isCode('conflict'));
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await store.write(ref('stale'), 'after', { expectedVersion: version });
    assert.equal((await store.read(ref('stale'))).value, 'after');
  });

  it('report a missing directory as not found and refuse an empty value', async () => {
    await assert.rejects(store.write(ref('no-such-dir/secret'), 'x'), isCode('not_found'));
    await assert.rejects(store.write(ref('empty'), ''), isCode('invalid_value'));
  });
});
