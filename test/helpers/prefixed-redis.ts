import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';

/**
 * For a describe block: a client of the shared Redis at `url`, connected before its tests, and a key
 * prefix of this run's own; every key under the prefix is deleted and the client closed after them.
 * Runs sharing one Redis never see each other's keys.
 */
export function redisUnderPrefix(url: string, label: string): { readonly client: Redis; readonly prefix: string } {
  const prefix = `${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
  let client: Redis | undefined;
  before(async () => {
    client = new Redis(url, { maxRetriesPerRequest: 1 });
    await client.ping();
  });
  after(async () => {
    if (!client) return;
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });
  return {
    prefix,
    get client() {
      if (!client) throw new Error('redisUnderPrefix: the client exists once the describe block’s tests run');
      return client;
    },
  };
}
