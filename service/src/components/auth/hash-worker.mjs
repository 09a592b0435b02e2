// One thread of the password-hashing pool (hash-pool.ts). Plain JavaScript, not TypeScript: a
// worker thread does not inherit the TypeScript loader that bin/boot.js registers for the sources,
// and scripts/build.mjs copies this file to dist/ as it is.
//
// At start the thread lowers its own scheduling priority: on Linux every thread has its own nice
// value, and setpriority(PRIO_PROCESS, tid) — os.setPriority with the thread's id, read from
// /proc/thread-self — changes only this thread. The event loop keeps its priority, so a login flood
// takes only the CPU it leaves idle. Then it hashes synchronously, here, with @node-rs/argon2: the
// computation stays on this thread (argon2 0.44's async work would go to libuv's shared pool instead,
// at the event loop's priority).
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { hashSync, verifySync } from '@node-rs/argon2';

const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id
const V0X13 = 1; // @node-rs/argon2 Version.V0x13

/** This thread's id, or undefined where /proc/thread-self does not exist (not Linux). */
function threadId() {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

const tid = threadId();
let nice;
let priorityError;
if (workerData.nice > 0) {
  if (tid === undefined) priorityError = 'no /proc/thread-self: cannot lower a single thread’s priority on this platform';
  else {
    try {
      setPriority(tid, workerData.nice);
    } catch (err) {
      priorityError = `${err.code ?? 'error'}: ${err.message}`;
    }
  }
}
try {
  nice = tid === undefined ? undefined : getPriority(tid);
} catch {
  nice = undefined;
}
parentPort.postMessage({ type: 'ready', tid, nice, priorityError });

parentPort.on('message', (job) => {
  let reply;
  try {
    if (job.op === 'hash') {
      const { memoryKiB, timeCost, parallelism, hashBytes } = job.policy;
      const value = hashSync(job.password, {
        algorithm: ARGON2ID,
        version: V0X13,
        memoryCost: memoryKiB,
        timeCost,
        parallelism,
        outputLen: hashBytes,
        salt: job.salt,
      });
      reply = { type: 'done', id: job.id, value };
    } else if (job.op === 'verify') {
      reply = { type: 'done', id: job.id, value: verifySync(job.hash, job.password) };
    } else {
      reply = { type: 'failed', id: job.id, message: `unknown operation ${job.op}` };
    }
  } catch (err) {
    reply = { type: 'failed', id: job.id, message: err instanceof Error ? err.message : String(err) };
  }
  parentPort.postMessage(reply);
});
