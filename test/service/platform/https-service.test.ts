import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createTestDatabase } from '../../helpers/database.js';
import { spawnService } from '../../helpers/service-process.js';
import { skipUnlessRealPostgres } from '../../helpers/services.js';
import { httpsGet, makeTestCertificate } from '../../helpers/tls-certificate.js';
import { waitFor } from '../../helpers/wait.js';
import { CHILD_ENV, serviceEnv } from '../../reliability/helpers/fault-traffic.js';

/**
 * The real service with TLS_CERT_FILE / TLS_KEY_FILE (issue 25, ingress → pod and Prometheus → pod
 * TLS): the API and the metrics port answer over HTTPS with the certificate the test made, and after
 * the files are replaced and the service gets SIGHUP the new certificate is served — no restart.
 * (The interval reload is the same TlsReloader.reload(), tested with an injected timer in
 * tls-listener.test.ts; TLS_RELOAD_INTERVAL_SECONDS=0 here so only the signal can have done it.)
 */
const NEEDS_POSTGRES = await skipUnlessRealPostgres();

describe('the service over HTTPS', { skip: NEEDS_POSTGRES }, () => {
  it('serves the API and /metrics with the test’s certificate, and a replaced one after SIGHUP', async (t) => {
    const first = makeTestCertificate('first');
    const second = makeTestCertificate('second');
    t.after(() => {
      first.dispose();
      second.dispose();
    });
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({
        DATABASE_URL: database.url as string,
        TLS_CERT_FILE: first.certFile,
        TLS_KEY_FILE: first.keyFile,
        TLS_RELOAD_INTERVAL_SECONDS: '0',
      }),
    });
    t.after(() => service.stop(5000));
    assert.match(service.baseUrl, /^https:\/\//);
    assert.match(service.metricsUrl, /^https:\/\//);

    const health = await httpsGet(`${service.baseUrl}/healthz`, first.cert);
    assert.equal(health.status, 200);
    assert.equal(health.fingerprint256, first.fingerprint256, 'the certificate presented is the test’s');
    assert.ok(health.protocol === 'TLSv1.3' || health.protocol === 'TLSv1.2', String(health.protocol));
    const me = await httpsGet(`${service.baseUrl}/v1/me`, first.cert);
    assert.equal(me.status, 401, 'the API answers (no token: 401) over TLS');
    const scraped = await httpsGet(service.metricsUrl, first.cert);
    assert.equal(scraped.status, 200);
    assert.equal(scraped.fingerprint256, first.fingerprint256);

    copyFileSync(second.certFile, first.certFile);
    copyFileSync(second.keyFile, first.keyFile);
    service.child.kill('SIGHUP');
    // The signal is handled by the child (another process, not our clock) when it next runs its event
    // loop: wait, bounded, for its log line.
    await waitFor('the reload logged after SIGHUP', () => service.output().includes('TLS certificate reloaded'), 10_000);
    const after = await httpsGet(`${service.baseUrl}/healthz`, second.cert);
    assert.equal(after.status, 200);
    assert.equal(after.fingerprint256, second.fingerprint256);
    assert.equal((await httpsGet(service.metricsUrl, second.cert)).fingerprint256, second.fingerprint256);
  });
});
