import type { Redis } from 'ioredis';

/**
 * `fn`'s result and the socket writes `client` made while it ran: each write is one syscall on both
 * sides, so commands auto-pipelined together count once (issue 24's round trips).
 */
export async function redisWritesOf<T>(client: Redis, fn: () => Promise<T>): Promise<{ result: T; writes: number }> {
  const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
  const write = stream.write;
  let writes = 0;
  stream.write = function (this: unknown, ...args: unknown[]) {
    writes += 1;
    return write.apply(this, args);
  };
  try {
    return { result: await fn(), writes };
  } finally {
    stream.write = write;
  }
}
