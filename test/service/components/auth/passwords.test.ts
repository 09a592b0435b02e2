import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import {
  type Argon2Policy,
  createPasswordHasher,
  parseArgon2Hash,
  UnsupportedHashError,
} from '../../../../service/src/components/auth/passwords.js';
import { AppError } from '../../../../service/src/platform/errors.js';

const OWASP: Argon2Policy = { memoryKiB: 19456, timeCost: 2, parallelism: 1 };
/** For tests that are not about cost. */
const FAST: Argon2Policy = { memoryKiB: 4096, timeCost: 1, parallelism: 1 };

function hasher(policy: Argon2Policy = FAST, limits = { maxConcurrent: 4, maxQueue: 16 }) {
  return createPasswordHasher({ policy, ...limits });
}

/** @node-rs/argon2's Algorithm (a const enum, which isolatedModules cannot import). */
const argon2 = { argon2d: 0, argon2i: 1, argon2id: 2 } as const;

/** A hash made directly with @node-rs/argon2, for parameters the hasher itself would never write. */
function rawHash(password: string, algorithm: 0 | 1 | 2, p: Argon2Policy): Promise<string> {
  return argon2Hash(password, { algorithm, memoryCost: p.memoryKiB, timeCost: p.timeCost, parallelism: p.parallelism });
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T | undefined; error: unknown }> {
  const start = performance.now();
  try {
    const result = await fn();
    return { ms: performance.now() - start, result, error: undefined };
  } catch (error) {
    return { ms: performance.now() - start, result: undefined, error };
  }
}

const SALT = 'c2FsdHNhbHRzYWx0c2FsdA'; // 16 bytes
const DIGEST = 'aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'; // 32 bytes
const phc = (head: string) => `${head}$${SALT}$${DIGEST}`;

const isUnsupported = (reason: UnsupportedHashError['reason']) => (err: unknown) =>
  err instanceof UnsupportedHashError && err.reason === reason;

describe('password hashing', () => {
  it('writes Argon2id v19 with the OWASP parameters, a 16-byte salt and a 32-byte hash', async () => {
    const passwords = hasher(OWASP);
    const hash = await passwords.hash('correct horse battery staple');

    const match = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
    assert.ok(match, hash);
    assert.equal(Buffer.from(match[1]!, 'base64').length, 16);
    assert.equal(Buffer.from(match[2]!, 'base64').length, 32);
    assert.notEqual(await passwords.hash('correct horse battery staple'), hash, 'a fresh salt every time');
    assert.equal(passwords.needsRehash(hash), false);
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const passwords = hasher();
    const hash = await passwords.hash('pässwörd 🔑');
    assert.equal(await passwords.verify(hash, 'pässwörd 🔑'), true);
    assert.equal(await passwords.verify(hash, 'pässwörd 🔐'), false);
    assert.equal(await passwords.verify(hash, ''), false);
  });

  it('verifies a sane argon2i hash, then asks for a rehash', async () => {
    const passwords = hasher();
    const legacy = await rawHash('legacy', argon2.argon2i, FAST);
    assert.equal(await passwords.verify(legacy, 'legacy'), true);
    assert.equal(passwords.needsRehash(legacy), true);
  });

  describe('needsRehash against the OWASP policy', () => {
    const passwords = hasher(OWASP);

    it('is true when memory is lower (m=4096)', async () => {
      assert.equal(passwords.needsRehash(await rawHash('x', argon2.argon2id, { ...OWASP, memoryKiB: 4096 })), true);
    });
    it('is true when the time cost is lower (t=1)', async () => {
      assert.equal(passwords.needsRehash(await rawHash('x', argon2.argon2id, { ...OWASP, timeCost: 1 })), true);
    });
    it('is true when parallelism is lower than the policy', async () => {
      const p2 = hasher({ ...OWASP, parallelism: 2 });
      assert.equal(p2.needsRehash(await rawHash('x', argon2.argon2id, OWASP)), true);
    });
    it('is true for another algorithm or version', () => {
      assert.equal(passwords.needsRehash(phc('$argon2i$v=19$m=19456,t=2,p=1')), true);
      assert.equal(passwords.needsRehash(phc('$argon2d$v=19$m=19456,t=2,p=1')), true);
      assert.equal(passwords.needsRehash(phc('$argon2id$v=16$m=19456,t=2,p=1')), true);
      assert.equal(passwords.needsRehash(phc('$argon2id$m=19456,t=2,p=1')), true); // Argon2 1.0 format
    });
    it('is true for a shorter salt or hash, and for anything it cannot verify', () => {
      assert.equal(passwords.needsRehash(`$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$${DIGEST}`), true);
      assert.equal(passwords.needsRehash(`$argon2id$v=19$m=19456,t=2,p=1$${SALT}$aGFzaGhhc2hoYXNoaGFzaA`), true);
      assert.equal(passwords.needsRehash(phc('$argon2id$v=19$m=2097152,t=2,p=1')), true);
      assert.equal(passwords.needsRehash('not a hash'), true);
    });
    it('is false at the current policy, and when a parameter is higher than the policy', () => {
      assert.equal(passwords.needsRehash(phc('$argon2id$v=19$m=19456,t=2,p=1')), false);
      assert.equal(passwords.needsRehash(phc('$argon2id$v=19$m=65536,t=3,p=4')), false);
    });
  });

  it('refuses absurd parameters without computing: the hash never reaches the limiter', async () => {
    // maxQueue 0 and a busy slot: anything that reached the limiter would get a 503 instead.
    const passwords = hasher(OWASP, { maxConcurrent: 1, maxQueue: 0 });
    const real = await passwords.hash('pw');

    const busy = passwords.verify(real, 'pw');
    for (const head of [
      '$argon2id$v=19$m=2097152,t=2,p=1',
      '$argon2id$v=19$m=19456,t=11,p=1',
      '$argon2id$v=19$m=19456,t=2,p=32',
    ]) {
      const refused = await timed(() => passwords.verify(phc(head), 'pw'));
      assert.ok(isUnsupported('parameters')(refused.error), `${head}: ${String(refused.error)}`);
    }
    assert.equal(await busy, true);
    assert.deepEqual(passwords.stats(), { running: 0, queued: 0, rejected: 0 });
  });

  describe('malformed or unsupported stored hashes', () => {
    const passwords = hasher();
    const malformed: Record<string, string> = {
      empty: '',
      'plain text': 'hunter2',
      bcrypt: '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW',
      scrypt: phc('$scrypt$ln=15,r=8,p=1'),
      'unknown argon2 variant': phc('$argon2x$v=19$m=19456,t=2,p=1'),
      'missing parameter': phc('$argon2id$v=19$m=19456,t=2'),
      'reordered parameters': phc('$argon2id$v=19$t=2,m=19456,p=1'),
      'extra data parameter': phc('$argon2id$v=19$m=19456,t=2,p=1,data=YWJj'),
      'leading zero': phc('$argon2id$v=19$m=019456,t=2,p=1'),
      'zero time cost': phc('$argon2id$v=19$m=19456,t=0,p=1'),
      'number too long': phc('$argon2id$v=19$m=99999999999,t=2,p=1'),
      'padded salt': `$argon2id$v=19$m=19456,t=2,p=1$${SALT}==$${DIGEST}`,
      'non-canonical base64': `$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdB$${DIGEST}`,
      'salt under 8 bytes': `$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$${DIGEST}`,
      'hash under 16 bytes': `$argon2id$v=19$m=19456,t=2,p=1$${SALT}$aGFzaGhhc2g`,
      'missing hash': `$argon2id$v=19$m=19456,t=2,p=1$${SALT}`,
      'trailing newline': `${phc('$argon2id$v=19$m=19456,t=2,p=1')}\n`,
      'very long': phc(`$argon2id$v=19$m=19456,t=2,p=1${'0'.repeat(300)}`),
    };
    for (const [name, hash] of Object.entries(malformed)) {
      it(`refuses ${name}`, async () => {
        assert.equal(parseArgon2Hash(hash), undefined);
        await assert.rejects(passwords.verify(hash, 'pw'), isUnsupported('malformed'));
      });
    }

    it('refuses a version other than 0x10 or 0x13', async () => {
      await assert.rejects(passwords.verify(phc('$argon2id$v=20$m=19456,t=2,p=1'), 'pw'), isUnsupported('version'));
    });
    it('refuses less than 8 KiB of memory per lane (Argon2’s own minimum)', async () => {
      await assert.rejects(passwords.verify(phc('$argon2id$v=19$m=16,t=2,p=4'), 'pw'), isUnsupported('parameters'));
    });
  });

  it('parses the parameters of a PHC string', () => {
    assert.deepEqual(parseArgon2Hash(phc('$argon2id$v=19$m=19456,t=2,p=1')), {
      algorithm: 'argon2id',
      version: 19,
      memoryKiB: 19456,
      timeCost: 2,
      parallelism: 1,
      saltBytes: 16,
      hashBytes: 32,
    });
    assert.equal(parseArgon2Hash(phc('$argon2i$m=4096,t=3,p=1'))?.version, 16);
  });

  it('verifyDummy returns false at the cost of one real verify at the current policy', async () => {
    // Equal cost is a property of the dummy hash itself (no timing assertion: timings drift on busy
    // machines): a well-formed Argon2id hash at exactly the policy's parameters, salt and hash sizes.
    const passwords = hasher(OWASP);
    const parsed = parseArgon2Hash(passwords.dummyHash);
    assert.ok(parsed);
    assert.equal(parsed.algorithm, 'argon2id');
    assert.deepEqual([parsed.memoryKiB, parsed.timeCost, parsed.parallelism], [OWASP.memoryKiB, OWASP.timeCost, OWASP.parallelism]);
    assert.deepEqual([parsed.saltBytes, parsed.hashBytes], [16, 32]);
    assert.equal(passwords.needsRehash(passwords.dummyHash), false);
    assert.equal(await passwords.verifyDummy('pw'), false);
    assert.equal(await passwords.verify(passwords.dummyHash, 'pw'), false);
  });

  it('answers 503 with Retry-After when more operations wait than maxQueue', async () => {
    const passwords = hasher(FAST, { maxConcurrent: 1, maxQueue: 1 });
    const first = passwords.hash('a');
    const second = passwords.verifyDummy('b');
    await assert.rejects(passwords.hash('c'), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'service_unavailable');
      assert.equal(err.headers['Retry-After'], '1');
      assert.equal(err.detail, 'Too many password operations in progress; retry shortly.');
      return true;
    });
    assert.deepEqual(passwords.stats(), { running: 1, queued: 1, rejected: 1 });
    assert.match(await first, /^\$argon2id\$/);
    assert.equal(await second, false);
    assert.deepEqual(passwords.stats(), { running: 0, queued: 0, rejected: 1 });
  });

  it('refuses a policy it could not verify later', () => {
    const limits = { maxConcurrent: 1, maxQueue: 1 };
    assert.throws(() => createPasswordHasher({ policy: { ...OWASP, timeCost: 11 }, ...limits }), RangeError);
    assert.throws(() => createPasswordHasher({ policy: { ...OWASP, memoryKiB: 2_097_152 }, ...limits }), RangeError);
    assert.throws(() => createPasswordHasher({ policy: { ...OWASP, parallelism: 0 }, ...limits }), RangeError);
  });
});
