import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `condition` every `everyMs` until it holds; throws naming `what` after `timeoutMs`.
 * Resolves with the time it took (ms), which tests report as a figure.
 */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  everyMs = 50,
): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
  return performance.now() - started;
}

/**
 * Whether `promise` settles within `ms` — a bound on another process (an exit, an answer), not a
 * clock of ours; the timer is cleared either way, so nothing is left pending.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops a child process the test started: SIGTERM, then SIGKILL if it has not exited within `graceMs`
 * (a SIGKILL cannot be ignored). Resolves with its exit code once it has exited.
 */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  if (!(await settledWithin(exited, graceMs))) child.kill('SIGKILL');
  return exited;
}
