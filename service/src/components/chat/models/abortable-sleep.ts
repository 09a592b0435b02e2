/**
 * Waits `ms`, or rejects with `signal.reason` as soon as `signal` aborts (even mid-wait), so a
 * model call stops promptly. Unlike node:timers/promises it rejects with the reason itself, which is
 * what the ModelProvider contract promises the caller.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
