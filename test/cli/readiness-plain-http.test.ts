import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { plainHttpCheck } from '../../cli/src/lib/readiness/http.js';

/**
 * `secops readiness` item tls.plain-http (issue 25, ASVS 5.0 4.1.2): plain HTTP to the API host must be
 * refused — 403 `https_required` from the service, or no listener — and never redirected. The plain URL
 * is pointed at a local server playing the ingress.
 */
async function plainServer(t: { after(fn: () => unknown): void }, handler: RequestListener): Promise<URL> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`);
}

const API = new URL('https://api.rampart.example/');

describe('readiness: plain HTTP is refused, not redirected', () => {
  it('passes on 403 https_required', async (t) => {
    const plain = await plainServer(t, (_req, res) => {
      res
        .writeHead(403, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ status: 403, code: 'https_required' }));
    });
    const result = await plainHttpCheck(API, 3000, plain);
    assert.equal(result.status, 'passed', result.evidence);
    assert.match(result.evidence, /→ 403 code https_required/);
  });

  it('fails on a redirect to https, the ingress default it replaces', async (t) => {
    const plain = await plainServer(t, (_req, res) => {
      res.writeHead(308, { location: 'https://api.rampart.example/healthz' }).end();
    });
    const result = await plainHttpCheck(API, 3000, plain);
    assert.equal(result.status, 'failed');
    assert.match(result.evidence, /308 Location: https:\/\/api\.rampart\.example\/healthz: a redirect hides/);
  });

  it('fails when plain HTTP is served, or refused with another answer', async (t) => {
    const ok = await plainServer(t, (_req, res) => res.writeHead(200).end('{"status":"ok"}'));
    assert.equal((await plainHttpCheck(API, 3000, ok)).status, 'failed');
    const other = await plainServer(t, (_req, res) => res.writeHead(403).end('{"code":"forbidden"}'));
    assert.equal((await plainHttpCheck(API, 3000, other)).status, 'failed');
  });

  it('passes when nothing listens for plain HTTP', async () => {
    // A port that was just free: listen, close, then probe it.
    const closed = new URL('http://127.0.0.1/healthz');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closed.port = String((server.address() as AddressInfo).port);
    await new Promise((resolve) => server.close(resolve));
    const result = await plainHttpCheck(API, 3000, closed);
    assert.equal(result.status, 'passed', result.evidence);
    assert.match(result.evidence, /connection refused/);
  });

  it('is manual for an http:// --url', async () => {
    assert.equal((await plainHttpCheck(new URL('http://127.0.0.1:3000/'), 3000)).status, 'manual');
  });
});
