import type { RedisHandle } from '../../service/src/platform/redis.js';

/**
 * Resolves once the app's Redis connection is ready (its `ready` event, not a polling sleep); rejects
 * after `timeoutMs`. No handle (REDIS_URL unset) resolves at once.
 */
export async function redisReady(handle: RedisHandle | undefined, timeoutMs = 5000): Promise<void> {
  if (!handle || handle.available()) return;
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      handle.client.off('ready', onReady);
      reject(new Error(`Redis was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    handle.client.once('ready', onReady);
  });
}
