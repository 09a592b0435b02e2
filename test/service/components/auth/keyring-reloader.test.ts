import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { type Keyring, keyringFromSecret } from '../../../../service/src/components/auth/keyring.js';
import { createKeyringReloader } from '../../../../service/src/components/auth/keyring-reloader.js';
import { createLogger } from '../../../../service/src/platform/logger.js';
import { createMetrics } from '../../../../service/src/platform/metrics.js';
import { manualClock } from '../../../helpers/clock.js';

const secret = (fill: number) => new Uint8Array(64).fill(fill);
const silent = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('keyring reloader: the interval runs on the injected clock', () => {
  it('re-reads the source every interval, keeps the keys in force when a read fails, and stops', async () => {
    const clock = manualClock();
    const first = await keyringFromSecret(secret(1));
    const second = await keyringFromSecret(secret(2));
    let next: Keyring | Error = first;
    let reads = 0;
    const reloader = createKeyringReloader({
      initial: first,
      load: async () => {
        reads++;
        if (next instanceof Error) throw next;
        return next;
      },
      intervalMs: 60_000,
      logger: silent(),
      metrics: createMetrics({ defaultMetrics: false }),
      clock,
    });

    await clock.tick(59_999);
    assert.equal(reads, 0, 'nothing before the interval');
    next = second;
    await clock.tick(1);
    assert.equal(reads, 1);
    assert.equal(reloader.current().signing.kid, second.signing.kid, 'the new keyring is in force');

    next = new Error('the secret store is down');
    await clock.tick(60_000);
    assert.equal(reads, 2);
    assert.equal(reloader.current().signing.kid, second.signing.kid, 'a failed read keeps the keys in force');

    reloader.stop();
    assert.equal(clock.pending(), 0, 'stop() clears the timer');
    await clock.tick(600_000);
    assert.equal(reads, 2);
  });

  it('sets no timer when the interval is 0 (SIGHUP only)', async () => {
    const clock = manualClock();
    const ring = await keyringFromSecret(secret(3));
    const reloader = createKeyringReloader({
      initial: ring,
      load: async () => ring,
      intervalMs: 0,
      logger: silent(),
      metrics: createMetrics({ defaultMetrics: false }),
      clock,
    });
    assert.equal(clock.pending(), 0);
    assert.equal((await reloader.reload('signal')).ok, true);
    reloader.stop();
  });
});
