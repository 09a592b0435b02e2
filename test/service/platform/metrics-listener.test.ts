import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { createTestDatabase } from '../../helpers/database.js';
import { spawnService } from '../../helpers/service-process.js';
import { skipUnlessRealPostgres } from '../../helpers/services.js';
import { CHILD_ENV, serviceEnv } from '../../reliability/helpers/fault-traffic.js';

/**
 * /metrics (request counts, auth outcomes, pool state) listens on METRICS_HOST — loopback unless told
 * otherwise — not on the API's address: a service started with HOST=0.0.0.0 does not open its metrics
 * to every network the host is on (issue 26, hostile review). Kubernetes sets the pod's IP.
 */
const NEEDS_POSTGRES = await skipUnlessRealPostgres();

/** An address of this machine other than loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('the metrics listener', { skip: NEEDS_POSTGRES }, () => {
  it('binds loopback by default even when the API listens on every address', async (t) => {
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({ DATABASE_URL: database.url as string, HOST: '0.0.0.0' }),
    });
    t.after(() => service.stop(5000));
    const listening = service
      .output()
      .split('\n')
      .map((line) => {
        try {
          return JSON.parse(line) as { msg?: string; address?: string; metrics_address?: string; metrics_port?: number };
        } catch {
          return {};
        }
      })
      .find((entry) => entry.msg === 'listening');
    assert.equal(listening?.address, '0.0.0.0');
    assert.equal(listening?.metrics_address, '127.0.0.1');
    assert.equal((await fetch(service.metricsUrl)).status, 200, 'scraped on loopback');
    const external = externalAddress();
    if (external) {
      await assert.rejects(
        fetch(`http://${external}:${listening?.metrics_port}/metrics`, { signal: AbortSignal.timeout(3000) }),
        'not reachable on the machine’s other addresses',
      );
    }
  });
});
