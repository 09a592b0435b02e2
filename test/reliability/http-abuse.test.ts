import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GENEROUS_LIMITS, TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { parseResponse } from './helpers/fuzz-raw-http.js';

/**
 * HTTP-level abuse against the real listener (the service as a child process, issue 12): slow
 * clients are cut off by the configured HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS /
 * HTTP_KEEP_ALIVE_TIMEOUT_MS, oversized headers get 431, malformed request lines 400, thousands of
 * idle sockets do not starve real requests, and pipelined requests are answered in order.
 */

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const KEEP_ALIVE_TIMEOUT_MS = 1000;

interface Conversation {
  socket: Socket;
  received(): Buffer;
  /** Resolves with the time (ms since open) at which the server closed the connection. */
  closed: Promise<number>;
}

function open(port: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ port, host: '127.0.0.1' });
    let buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
    });
    const closed = new Promise<number>((r) => socket.once('close', () => r(performance.now() - started)));
    socket.on('error', () => undefined); // resets are part of being cut off
    socket.once('connect', () => resolve({ socket, received: () => buffer, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte at a time every `everyMs` until the server closes or the text runs out. */
async function trickle(c: Conversation, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (c.socket.destroyed || c.socket.writableEnded) break;
    c.socket.write(ch);
    sent++;
    await Promise.race([sleep(everyMs), c.closed]);
  }
  return sent;
}

function statusOf(buf: Buffer): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'));
  return m ? Number(m[1]) : undefined;
}

const SECURITY_HEADERS = [
  'strict-transport-security',
  'content-security-policy',
  'x-content-type-options',
  'x-frame-options',
  'referrer-policy',
  'permissions-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'cache-control',
];

/**
 * What the parser refused is answered like any other error: problem+json with the code, a request
 * id, the app's security headers, and Connection: close.
 */
async function assertProblem(base: string, received: Buffer, status: number, code: string): Promise<void> {
  const r = parseResponse(received, true);
  assert.ok(r, `no response: ${received.toString('latin1').slice(0, 200)}`);
  assert.equal(r.status, status);
  assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/);
  assert.equal(r.headers.connection, 'close');
  const problem = JSON.parse(r.body.toString('utf8'));
  assert.equal(problem.code, code);
  assert.equal(problem.status, status);
  assert.equal(problem.request_id, r.headers['x-request-id']);
  const app = await fetch(`${base}/healthz`);
  await app.arrayBuffer();
  for (const name of SECURITY_HEADERS) assert.equal(r.headers[name], app.headers.get(name), `${name} differs from the app's`);
}

async function healthy(base: string): Promise<void> {
  const res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

describe('HTTP-level abuse against the real listener', () => {
  let database: TestDatabase;
  let service: ServiceProcess;
  let roomy: ServiceProcess;
  let port: number;

  before(async () => {
    database = await createTestDatabase();
    assert.ok(database.url, 'these tests need the real PostgreSQL');
    const env = { NODE_ENV: 'test', DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, ...GENEROUS_LIMITS };
    [service, roomy] = await Promise.all([
      spawnService({
        env: {
          ...env,
          HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
          HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
          HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
        },
      }),
      // Deadlines long enough that 2000 half-open sockets stay open while real requests are made.
      spawnService({ env: { ...env, HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '60000' } }),
    ]);
    port = Number(new URL(service.baseUrl).port);
  });
  after(async () => {
    await Promise.all([service?.stop(), roomy?.stop()]);
    await database?.drop();
  });

  it('headers trickled byte by byte are cut off by HTTP_HEADERS_TIMEOUT_MS with a 408 problem', async (t) => {
    const c = await open(port);
    // 200 header bytes at 50 ms each would take 10 s: far beyond the 1 s deadline.
    const sent = await trickle(c, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`, 50);
    const closedAt = await c.closed;
    t.diagnostic(`cut off after ${closedAt.toFixed(0)} ms and ${sent} header bytes`);
    assert.ok(sent < 200, `the server let ${sent} trickled bytes through`);
    assert.ok(closedAt >= HEADERS_TIMEOUT_MS, `closed after ${closedAt} ms, before the deadline`);
    await assertProblem(service.baseUrl, c.received(), 408, 'request_timeout');
    await healthy(service.baseUrl);
  });

  it('a body trickled byte by byte is cut off by HTTP_REQUEST_TIMEOUT_MS with a 408 problem', async (t) => {
    const c = await open(port);
    const body = JSON.stringify({ email: 'slow@example.com', password: 'x'.repeat(300) });
    c.socket.write(`POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    const sent = await trickle(c, body, 50); // ≈ 17 s if nobody stopped it
    const closedAt = await c.closed;
    t.diagnostic(`cut off after ${closedAt.toFixed(0)} ms and ${sent} of ${body.length} body bytes`);
    assert.ok(sent < body.length, 'the whole body got through');
    assert.ok(closedAt >= REQUEST_TIMEOUT_MS, `closed after ${closedAt} ms, before the deadline`);
    await assertProblem(service.baseUrl, c.received(), 408, 'request_timeout');
    await healthy(service.baseUrl);
  });

  it('an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const c = await open(port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!parseResponse(c.received(), false)) await Promise.race([sleep(10), c.closed]);
    assert.equal(statusOf(c.received()), 200);
    const answeredAt = performance.now();
    const outcome = await Promise.race([c.closed.then(() => 'closed'), sleep(KEEP_ALIVE_TIMEOUT_MS + 5000).then(() => 'still open')]);
    assert.equal(outcome, 'closed');
    assert.ok(performance.now() - answeredAt >= KEEP_ALIVE_TIMEOUT_MS - 50, 'closed before the keep-alive timeout');
  });

  it('headers over the 16 KiB limit are refused with a 431 problem and the connection closed', async () => {
    const c = await open(port);
    c.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\n\r\n`);
    await c.closed;
    await assertProblem(service.baseUrl, c.received(), 431, 'request_header_fields_too_large');
    // One huge header or many small ones: the total counts.
    const d = await open(port);
    d.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'c'.repeat(40)}\r\n`).join('')}\r\n`);
    await d.closed;
    await assertProblem(service.baseUrl, d.received(), 431, 'request_header_fields_too_large');
    await healthy(service.baseUrl);
  });

  for (const [name, line] of [
    ['garbage', 'GARBAGE\r\n\r\n'],
    ['a method without a target', 'GET\r\n\r\n'],
    ['an unknown HTTP version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['control bytes', '\u0000\u0001\u0002\u0003\r\n\r\n'],
    ['a space inside the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a bare LF header block with an invalid header name', 'GET / HTTP/1.1\nHo st: x\n\n'],
    ['an unknown method', 'BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding (request smuggling)', 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ] as const) {
    it(`a malformed request (${name}) gets a 400 problem and the connection closed, and the service lives on`, async () => {
      const c = await open(port);
      c.socket.write(line);
      const closedAt = await Promise.race([c.closed, sleep(HEADERS_TIMEOUT_MS + 5000).then(() => -1)]);
      assert.notEqual(closedAt, -1, 'the connection was left open');
      await assertProblem(service.baseUrl, c.received(), 400, 'bad_request');
      await healthy(service.baseUrl);
    });
  }

  it('a malformed request after an answered one on a keep-alive connection still gets a 400 problem', async () => {
    const c = await open(port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!parseResponse(c.received(), false)) await Promise.race([sleep(10), c.closed]);
    const first = parseResponse(c.received(), false);
    assert.equal(first?.status, 200);
    const firstLength = c.received().indexOf('\r\n\r\n') + 4 + (first?.body.length ?? 0);
    c.socket.write('GARBAGE\r\n\r\n');
    await Promise.race([c.closed, sleep(5000)]);
    await assertProblem(service.baseUrl, c.received().subarray(firstLength), 400, 'bad_request');
  });

  it('2000 idle half-open connections do not starve real requests', async (t) => {
    const roomyPort = Number(new URL(roomy.baseUrl).port);
    const idle: Conversation[] = [];
    try {
      for (let i = 0; i < 2000; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, () => open(roomyPort)));
        for (const c of batch) c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // headers never finished
        idle.push(...batch);
      }
      const stillOpen = idle.filter((c) => !c.socket.destroyed).length;
      assert.equal(stillOpen, 2000, 'the server dropped idle sockets before the test could use them');
      // A liveness bound, not a performance assertion: each real request must answer, and soon.
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const res = await fetch(`${roomy.baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        slowest = Math.max(slowest, performance.now() - started);
      }
      t.diagnostic(`slowest of 20 /healthz with 2000 idle sockets open: ${slowest.toFixed(1)} ms`);
      const signup = await fetch(`${roomy.baseUrl}/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'busy@example.com', password: 'a perfectly fine password 42' }),
        signal: AbortSignal.timeout(15_000),
      });
      assert.equal(signup.status, 201, await signup.text());
    } finally {
      for (const c of idle) c.socket.destroy();
    }
  });

  it('pipelined requests in one write are answered in order', async () => {
    const c = await open(port);
    const login = JSON.stringify({ email: 'nobody@example.com', password: 'wrong password 123456' });
    const requests = [
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-1\r\n\r\n',
      'GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-2\r\n\r\n',
      'GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-3\r\n\r\n',
      `POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-4\r\nContent-Type: application/json\r\nContent-Length: ${login.length}\r\n\r\n${login}`,
      'GET /version HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-5\r\n\r\n',
      'DELETE /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-6\r\nConnection: close\r\n\r\n',
    ];
    c.socket.write(requests.join(''));
    const closedAt = await Promise.race([c.closed, sleep(15_000).then(() => -1)]);
    assert.notEqual(closedAt, -1, 'Connection: close on the last request was not honoured');
    const answers: { status: number; id: string | undefined }[] = [];
    let rest = c.received();
    while (rest.length > 0) {
      const r = parseResponse(rest, true);
      assert.ok(r, 'an incomplete response');
      answers.push({ status: r.status, id: r.headers['x-request-id'] });
      const headEnd = rest.indexOf('\r\n\r\n') + 4;
      rest = rest.subarray(headEnd + r.body.length);
    }
    assert.deepEqual(answers, [
      { status: 200, id: 'pipe-1' },
      { status: 404, id: 'pipe-2' },
      { status: 401, id: 'pipe-3' },
      { status: 401, id: 'pipe-4' },
      { status: 200, id: 'pipe-5' },
      { status: 405, id: 'pipe-6' },
    ]);
  });
});
