import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export interface RedisHandle {
  readonly client: Redis;
  /** true while Redis answers; limits fall back to in-process memory otherwise. */
  available(): boolean;
  close(): Promise<void>;
}

/**
 * The shared Redis for limits, lockouts and revocation. Commands never wait for a reconnect
 * (`enableOfflineQueue: false`): while Redis is away every call fails at once and callers fall back,
 * and ioredis keeps reconnecting in the background. AUTH and TLS (`rediss://`) come from the URL, the
 * CA to trust from REDIS_CA_FILE.
 * The state change is logged once each way and reported through `onChange` (a metric).
 */
export function createRedis(
  url: string,
  logger: Logger,
  onChange: (available: boolean) => void,
  options: { ca?: string } = {},
): RedisHandle {
  const client = new Redis(url, {
    // REDIS_CA_FILE: trust only the internal CA for a rediss:// server (ioredis's TLS otherwise uses
    // the system store); certificate and name are verified either way.
    ...(options.ca !== undefined && /^rediss:/i.test(url) ? { tls: { ca: options.ca, minVersion: 'TLSv1.2' as const } } : {}),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    commandTimeout: 200,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
    enableAutoPipelining: true,
  });
  // undefined until the first state is known, so a Redis that is down at start is reported too.
  let up: boolean | undefined;
  let closing = false;
  const set = (next: boolean, err?: Error) => {
    if (closing || next === up) return;
    up = next;
    onChange(next);
    if (next) logger.info('redis available: rate limits and lockouts are shared across replicas again');
    else logger.warn({ err: err?.message }, 'redis unavailable: rate limits and lockouts fall back to in-process memory');
  };
  onChange(false);
  client.on('ready', () => set(true));
  client.on('error', (err: Error) => set(false, err));
  client.on('close', () => set(false));
  client.on('end', () => set(false));
  // A Redis that stops answering but keeps the connection open (paused, overloaded, a half-dead
  // network path) would otherwise cost every call its full commandTimeout, forever, unnoticed.
  // A heartbeat notices, drops the connection so calls fail over at once, and ioredis reconnects.
  const heartbeat = setInterval(() => {
    if (client.status !== 'ready') return;
    client.ping().catch((err: Error) => {
      set(false, err);
      client.disconnect(true);
    });
  }, 1000);
  heartbeat.unref();
  return {
    client,
    available: () => up === true && client.status === 'ready',
    async close() {
      closing = true;
      clearInterval(heartbeat);
      client.on('error', () => undefined);
      await client.quit().catch(() => client.disconnect());
    },
  };
}
