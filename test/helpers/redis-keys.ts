import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { testRedisUrl } from './services.js';

/**
 * A key prefix of this test file's own on the shared test Redis: every REDIS_KEY_PREFIX built on it
 * (`${base}-…`) is deleted, each key under it, once the file's tests have ended — a top-level
 * `after`, so after every app of the file has closed. Call it at the top level of the file.
 */
export function redisKeyPrefix(name: string): string {
  const base = `${name}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const url = testRedisUrl();
  if (url) after(() => deleteRedisKeys(url, base));
  return base;
}

/** Deletes every key that starts with `prefix` (SCAN in batches, never KEYS). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
