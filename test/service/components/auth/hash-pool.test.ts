import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type Argon2Policy, createPasswordHasher } from '../../../../service/src/components/auth/passwords.js';
import { createHashPool } from '../../../../service/src/components/auth/hash-pool.js';
import { AppError } from '../../../../service/src/platform/errors.js';

const FAST: Argon2Policy = { memoryKiB: 4096, timeCost: 1, parallelism: 1 };

/** The nice value of one thread of this process, as the kernel reports it (field 19 of its stat). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19 - 3]);
}

/**
 * Written by argon2 0.44.0 (the previous library) for the password below: `argon2.hash(password,
 * { type, memoryCost, timeCost, parallelism })`, so stored rows keep verifying after the move.
 */
const ARGON2_044 = {
  password: 'pässwörd 🔑 from argon2 0.44',
  argon2id: '$argon2id$v=19$m=4096,t=1,p=1$V3eq5hFNwCgfn7qSIz7C4Q$vsVEY3YydDS/99aGl/jkSKG+l3QZuAN8FQdaryKaWyc',
  argon2i: '$argon2i$v=19$m=4096,t=2,p=1$YuRjzWNr/TdtnFJoABIk5Q$SUDPSL6VRRAAGOPd5cNcpldJ8N8fJ8AYNoQqOU60dnc',
  owasp: '$argon2id$v=19$m=19456,t=2,p=1$xzXugd2N8/FyCg+yYkhnfw$ijJn7QrRSvoFtF01p4h+SHN5l46D09hzciuSA9rwM0s',
};

const linux = existsSync('/proc/thread-self');

describe('password-hashing thread pool', () => {
  it('runs every thread at the configured nice value, the event loop’s left alone', {
    skip: !linux && 'needs /proc/thread-self',
  }, async (t) => {
    const pool = createHashPool({ size: 2, nice: 7 });
    t.after(() => pool.close());
    const threads = await pool.start();
    assert.equal(threads.length, 2);
    for (const thread of threads) {
      assert.ok(thread.tid !== undefined && thread.tid !== process.pid, 'a thread of its own');
      assert.equal(thread.nice, 7, 'as the thread read it back');
      assert.equal(niceOf(thread.tid), 7, 'as the kernel reports it');
    }
    assert.equal(niceOf(process.pid), 0, 'the main thread keeps its priority');
  });

  it('nice 0 leaves the threads at the process’s priority', { skip: !linux && 'needs /proc/thread-self' }, async (t) => {
    const pool = createHashPool({ size: 1, nice: 0 });
    t.after(() => pool.close());
    const [thread] = await pool.start();
    assert.equal(niceOf(thread?.tid as number), 0);
  });

  it('has as many threads as hashes may run at once, started on demand', async (t) => {
    const passwords = createPasswordHasher({ policy: FAST, maxConcurrent: 3, maxQueue: 8, threadNice: 10 });
    t.after(() => passwords.close());
    const hashes = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => passwords.hash(p)));
    assert.equal(new Set(hashes).size, 5);
    assert.equal((await passwords.start()).length, 3, 'never more threads than maxConcurrent');
  });

  it('verifies hashes written by argon2 0.44, and argon2 0.44’s format is what it writes', async (t) => {
    const passwords = createPasswordHasher({ policy: FAST, maxConcurrent: 2, maxQueue: 8 });
    t.after(() => passwords.close());
    for (const hash of [ARGON2_044.argon2id, ARGON2_044.argon2i, ARGON2_044.owasp]) {
      assert.equal(await passwords.verify(hash, ARGON2_044.password), true, hash);
      assert.equal(await passwords.verify(hash, `${ARGON2_044.password}!`), false, hash);
    }
    assert.equal(passwords.needsRehash(ARGON2_044.argon2i), true, 'argon2i: rehash to argon2id');
    assert.equal(passwords.needsRehash(ARGON2_044.argon2id), false);
    const mine = await passwords.hash(ARGON2_044.password);
    assert.match(mine, /^\$argon2id\$v=19\$m=4096,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  it('still answers 503 past the queue bound, with threads in front of it', async (t) => {
    const passwords = createPasswordHasher({ policy: FAST, maxConcurrent: 1, maxQueue: 0 });
    t.after(() => passwords.close());
    const first = passwords.hash('a');
    await assert.rejects(passwords.verifyDummy('b'), (err: unknown) => err instanceof AppError && err.status === 503);
    assert.match(await first, /^\$argon2id\$/);
    assert.deepEqual(passwords.stats(), { running: 0, queued: 0, rejected: 1 });
  });

  it('close() terminates the threads; later operations are refused', { skip: !linux && 'needs /proc' }, async () => {
    const passwords = createPasswordHasher({ policy: FAST, maxConcurrent: 2, maxQueue: 8 });
    const threads = await passwords.start();
    for (const { tid } of threads) assert.ok(existsSync(`/proc/${process.pid}/task/${tid}`));
    await passwords.close();
    // terminate() resolves once each thread has exited: its /proc entry is gone.
    for (const { tid } of threads)
      assert.equal(existsSync(`/proc/${process.pid}/task/${tid}`), false, `thread ${tid} still there`);
    await assert.rejects(passwords.hash('x'), /closed/);
  });

  it('a job in flight when the pool closes is refused, not left pending', async () => {
    const pool = createHashPool({ size: 1, nice: 0 });
    const pending = pool.hash('x', new Uint8Array(16), { ...FAST, memoryKiB: 65536, timeCost: 3, hashBytes: 32 });
    await pool.close();
    await assert.rejects(pending);
  });

  it('an idle pool keeps no process alive: a process that never closes it still exits', () => {
    const script = `
      import { createPasswordHasher } from ${JSON.stringify(new URL('../../../../service/src/components/auth/passwords.ts', import.meta.url).href)};
      const passwords = createPasswordHasher({ policy: ${JSON.stringify(FAST)}, maxConcurrent: 2, maxQueue: 2 });
      await passwords.start();
      const hash = await passwords.hash('pw');
      process.stdout.write(String(await passwords.verify(hash, 'pw')));
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.signal, null, 'killed by the timeout: the threads kept it alive');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'true');
  });

  it('refuses a size or nice value out of range', () => {
    assert.throws(() => createHashPool({ size: 0, nice: 10 }), RangeError);
    assert.throws(() => createHashPool({ size: 1, nice: 20 }), RangeError);
    assert.throws(() => createHashPool({ size: 1, nice: -1 }), RangeError);
  });
});
