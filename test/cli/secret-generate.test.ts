import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSecret, run } from '../../cli/src/commands/secret.js';
import { generateOptions } from '../../cli/src/commands/secret.command.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CliError, UsageError } from '../../cli/src/lib/errors.js';
import { memorySecretStore } from '../helpers/memory-secret-store.js';
import { captureIo } from './capture.js';

function context(json = false) {
  const captured = captureIo({});
  const ctx = createContext(captured.io, { json, databaseUrl: undefined }, async () => {
    throw new Error('no database');
  });
  return { ctx, ...captured };
}

describe('secops secret generate', () => {
  it('prints 64 random bytes as one base64url line by default', async () => {
    const { ctx, stdout } = context();
    await run(generateOptions({ bytes: '64' }), ctx);
    const line = stdout();
    assert.match(line, /^[A-Za-z0-9_-]{86}\n$/, 'base64url, no padding, one line');
    assert.equal(Buffer.from(line.trim(), 'base64url').length, 64);
  });

  it('takes its bytes from the entropy source it is given (node:crypto randomBytes by default)', async () => {
    const calls: number[] = [];
    const fixed = (size: number) => {
      calls.push(size);
      return new Uint8Array(size).fill(0xfb);
    };
    const { ctx, stdout } = context();
    await run(generateOptions({ bytes: '48' }), ctx, { random: fixed });
    assert.deepEqual(calls, [48]);
    assert.equal(stdout().trim(), Buffer.alloc(48, 0xfb).toString('base64url'));
    assert.throws(() => generateSecret(32, () => new Uint8Array(31)), /returned 31 bytes/);
    // The default is the OS CSPRNG: no two secrets repeat and every byte value turns up.
    const seen = new Set<string>();
    const histogram = new Array(256).fill(0);
    for (let i = 0; i < 512; i++) {
      const s = generateSecret(64);
      seen.add(s);
      for (const b of Buffer.from(s, 'base64url')) histogram[b]++;
    }
    assert.equal(seen.size, 512);
    assert.ok(histogram.every((n) => n > 0), 'all 256 byte values occur in 32 KiB of output');
  });

  it('refuses sizes outside 32..1024 as a usage error', () => {
    for (const bytes of ['31', '1025', '64.5', 'abc', '-64']) {
      assert.throws(() => generateOptions({ bytes }), UsageError, bytes);
    }
    assert.equal(generateOptions({ bytes: '32' }).bytes, 32);
  });

  it('--json gives one document with the secret', async () => {
    const { ctx, stdout } = context(true);
    await run(generateOptions({ bytes: '32' }), ctx);
    const doc = JSON.parse(stdout());
    assert.equal(doc.written, false);
    assert.equal(Buffer.from(doc.secret, 'base64url').length, 32);
  });

  it('--to writes into the store and never echoes the value', async () => {
    const store = memorySecretStore();
    const { ctx, stdout, stderr } = context();
    const result = await run(generateOptions({ bytes: '64', to: 'vault://secret/rampart#jwt_secret' }), ctx, { store });
    const stored = store.peek('vault://secret/rampart#jwt_secret') as string;
    assert.equal(Buffer.from(stored, 'base64url').length, 64);
    assert.equal(result.written, true);
    assert.ok(!stdout().includes(stored) && !stderr().includes(stored), 'the secret is not printed');
    assert.match(stdout(), /was not printed/);
  });

  it('--to refuses to replace an existing secret unless --overwrite', async () => {
    const store = memorySecretStore({ 'file:/run/secrets/jwt': 'the-live-secret' });
    const { ctx } = context();
    await assert.rejects(
      run(generateOptions({ bytes: '64', to: 'file:/run/secrets/jwt' }), ctx, { store }),
      (err: unknown) => err instanceof CliError && err.code === 'secret_conflict' && /--overwrite/.test(err.message),
    );
    assert.equal(store.peek('file:/run/secrets/jwt'), 'the-live-secret');
    await run(generateOptions({ bytes: '64', to: 'file:/run/secrets/jwt', overwrite: true }), ctx, { store });
    assert.notEqual(store.peek('file:/run/secrets/jwt'), 'the-live-secret');
  });

  it('a malformed reference is a usage error', async () => {
    const { ctx } = context();
    await assert.rejects(run(generateOptions({ bytes: '64', to: 'vault:/nope' }), ctx), UsageError);
  });
});
