import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connect, Server as TlsServer } from 'node:tls';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { createMetricsServer } from '../../../service/src/platform/http/metrics-server.js';
import { createHttpServer, drainServer, listen } from '../../../service/src/platform/http/server.js';
import { TlsReloader } from '../../../service/src/platform/http/tls.js';
import { httpsGet, makeTestCertificate } from '../../helpers/tls-certificate.js';

/**
 * TLS_CERT_FILE / TLS_KEY_FILE (issue 25, "TLS on every hop"): the API and metrics listeners serve
 * HTTPS with a certificate the test makes, TLS 1.2+ only, and serve a replaced certificate after a
 * reload without a restart. The reload is triggered explicitly (main.ts: every
 * TLS_RELOAD_INTERVAL_SECONDS and on SIGHUP); the interval is an injected timer.
 */
function app(): Koa {
  const koa = new Koa();
  koa.use((ctx) => {
    ctx.body = { encrypted: (ctx.req.socket as { encrypted?: boolean }).encrypted === true };
  });
  return koa;
}

describe('the HTTPS listener', () => {
  it('serves the API over TLS with the configured certificate, and nothing below TLS 1.2', async (t) => {
    const certificate = makeTestCertificate();
    t.after(() => certificate.dispose());
    const server = createHttpServer(app(), { tls: certificate });
    const { port } = await listen(server, 0, '127.0.0.1');
    t.after(() => drainServer(server, 1000));

    const answer = await httpsGet(`https://127.0.0.1:${port}/`, certificate.cert);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { encrypted: true });
    assert.equal(answer.fingerprint256, certificate.fingerprint256, 'the certificate presented is the test’s');

    // A client that offers TLS 1.1 at most is refused in the handshake.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port, ca: certificate.cert, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' },
          () => resolve(socket.getProtocol()),
        );
        socket.on('error', reject);
      }),
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) }));
  });

  it('drains: an idle keep-alive TLS connection is closed at once', async (t) => {
    const certificate = makeTestCertificate();
    t.after(() => certificate.dispose());
    const server = createHttpServer(app(), { tls: certificate });
    const { port } = await listen(server, 0, '127.0.0.1');
    t.after(() => drainServer(server, 1000));

    // Its requests arrive on the TLS socket, which the server tracks for the drain (server.ts trackConnections).
    const agent = new Agent({ keepAlive: true, ca: certificate.cert });
    t.after(() => agent.destroy());
    const { closed: socketClosed } = await new Promise<{ closed: Promise<void> }>((resolve, reject) => {
      const req = request(`https://127.0.0.1:${port}/`, { agent }, (res) => {
        const socket = res.socket;
        const closed = new Promise<void>((done) => socket.once('close', () => done()));
        res.resume();
        res.on('end', () => resolve({ closed }));
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    assert.equal(await drainServer(server, 5000), true, 'drained within the grace period');
    await socketClosed;
    assert.ok(
      Date.now() - started < 500,
      `the idle connection was closed at once, not after the 1 s a fresh one is given (${Date.now() - started} ms)`,
    );
  });

  it('serves a replaced certificate to new connections after a reload; a pair that does not match is kept out', async (t) => {
    const first = makeTestCertificate('first');
    const second = makeTestCertificate('second');
    t.after(() => {
      first.dispose();
      second.dispose();
    });
    const server = createHttpServer(app(), { tls: first });
    const metrics = createMetricsServer(new Registry(), first);
    const { port } = await listen(server, 0, '127.0.0.1');
    const metricsPort = ((await listen(metrics, 0, '127.0.0.1')) as AddressInfo).port;
    t.after(() => Promise.all([drainServer(server, 1000), drainServer(metrics, 1000)]));

    let tick: (() => void) | undefined;
    const logged: string[] = [];
    const reloader = new TlsReloader(
      first,
      [server, metrics].filter((s) => s instanceof TlsServer),
      first,
      {
        setInterval: (fn) => {
          tick = fn;
          return {};
        },
        clearInterval: () => {
          tick = undefined;
        },
        log: { info: (_o, msg) => logged.push(msg), error: (_o, msg) => logged.push(msg) },
      },
    );
    assert.equal(reloader.reload(), 'unchanged');

    // A half-renewed secret: the new certificate with the old key.
    copyFileSync(second.certFile, first.certFile);
    assert.equal(reloader.reload(), 'failed');
    assert.equal((await httpsGet(`https://127.0.0.1:${port}/`, first.cert)).fingerprint256, first.fingerprint256);

    // The key arrives: the next tick of the interval serves the new pair on both listeners.
    copyFileSync(second.keyFile, first.keyFile);
    reloader.start(30_000);
    assert.ok(tick, 'the interval was scheduled');
    tick();
    const api = await httpsGet(`https://127.0.0.1:${port}/`, second.cert);
    assert.equal(api.fingerprint256, second.fingerprint256);
    assert.equal(api.status, 200);
    const scraped = await httpsGet(`https://127.0.0.1:${metricsPort}/metrics`, second.cert);
    assert.equal(scraped.status, 200);
    assert.equal(scraped.fingerprint256, second.fingerprint256);
    assert.equal(reloader.reload(), 'unchanged');
    assert.deepEqual(logged, [
      'TLS certificate reload: the new files do not form a usable certificate and key; still serving the previous certificate',
      'TLS certificate reloaded',
    ]);

    // A file missing for a moment keeps the certificate being served.
    writeFileSync(first.keyFile, '');
    assert.equal(reloader.reload(), 'failed');
    assert.equal((await httpsGet(`https://127.0.0.1:${port}/`, second.cert)).fingerprint256, second.fingerprint256);
    reloader.stop();
    assert.equal(tick, undefined);
  });

  it('the metrics listener without a certificate still speaks plain HTTP', async (t) => {
    const metrics = createMetricsServer(new Registry());
    const { port } = await listen(metrics, 0, '127.0.0.1');
    t.after(() => drainServer(metrics, 1000));
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200);
  });
});
