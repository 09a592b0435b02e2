import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Router from '@koa/router';
import { type InProcessTestApp, startTestApp, type TestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';

/** Routes that exist only in this test, to exercise the platform through the real app. */
function platformProbeRouter(): Router {
  const router = new Router({ prefix: '/__probe' });
  router.post('/echo', (ctx) => {
    ctx.body = { received: ctx.request.body ?? null };
  });
  router.get('/boom', () => {
    throw new Error('SELECT password_hash FROM users -- internal detail that must not leak');
  });
  return router;
}

const SECURITY_HEADERS: Record<string, string | RegExp> = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
  'content-security-policy': /default-src 'none'.*frame-ancestors 'none'/,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'permissions-policy': /camera=\(\), .*geolocation=\(\), .*microphone=\(\)/,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

function assertSecurityHeaders(headers: Headers) {
  for (const [name, expected] of Object.entries(SECURITY_HEADERS)) {
    const value = headers.get(name);
    assert.ok(value, `${name} is missing`);
    if (typeof expected === 'string') assert.equal(value, expected, name);
    else assert.match(value, expected, name);
  }
  assert.equal(headers.get('x-powered-by'), null);
  assert.equal(headers.get('server'), null);
}

function assertProblem(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.equal(res.body.code, code);
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.type, 'string');
  assert.equal(res.body.request_id, res.headers.get('x-request-id'));
}

describe('HTTP conventions of docs/api.md', () => {
  let t: InProcessTestApp;
  before(async () => {
    t = await startTestApp({ env: { MAX_REQUEST_SIZE_BYTES: '4096' }, extraRouters: [platformProbeRouter()] });
  });
  after(() => t.close());

  it('gives every response an X-Request-Id and keeps a valid incoming one', async () => {
    const fresh = await api(t, 'GET', '/healthz');
    assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const kept = await api(t, 'GET', '/healthz', { headers: { 'x-request-id': 'abc.DEF_1:2-3' } });
    assert.equal(kept.headers.get('x-request-id'), 'abc.DEF_1:2-3');
  });

  it('replaces an incoming X-Request-Id that is too long or has other characters', async () => {
    for (const bad of ['a'.repeat(129), 'has space', 'semi;colon', 'ünïcode', '<script>']) {
      const res = await api(t, 'GET', '/healthz', { headers: { 'x-request-id': bad } });
      assert.notEqual(res.headers.get('x-request-id'), bad);
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    }
  });

  it('sends the security headers and no-store on success and error responses alike', async () => {
    assertSecurityHeaders((await api(t, 'GET', '/healthz')).headers);
    assertSecurityHeaders((await api(t, 'GET', '/no/such/route')).headers);
    assertSecurityHeaders((await api(t, 'GET', '/__probe/boom', { contract: false })).headers);
  });

  it('answers an unknown route with 404 not_found as problem+json', async () => {
    assertProblem(await api(t, 'GET', '/v1/nothing-here'), 404, 'not_found');
    assertProblem(await api(t, 'POST', '/v1/nothing-here', { body: 'x', headers: { 'content-type': 'text/plain' } }), 404, 'not_found');
  });

  it('answers a wrong method with 405 method_not_allowed and an Allow header', async () => {
    const res = await api(t, 'DELETE', '/healthz');
    assertProblem(res, 405, 'method_not_allowed');
    assert.match(res.headers.get('allow') ?? '', /GET/);
  });

  it('refuses a body that is not application/json with 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      const res = await api(t, 'POST', '/__probe/echo', { body: '{"a":1}', headers: { 'content-type': type }, contract: false });
      assertProblem(res, 415, 'unsupported_media_type');
    }
    const none = await t.request('/__probe/echo', { method: 'POST', body: new Uint8Array([123, 125]) });
    assert.equal(none.status, 415);
  });

  it('accepts application/json with a UTF-8 charset and +json types', async () => {
    const res = await api(t, 'POST', '/__probe/echo', {
      body: '{"a":"é"}',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      contract: false,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: { a: 'é' } });
    const merge = await api(t, 'POST', '/__probe/echo', { body: '[1]', headers: { 'content-type': 'application/merge-patch+json' }, contract: false });
    assert.equal(merge.status, 200);
  });

  it('refuses malformed JSON with 400 invalid_json', async () => {
    for (const body of ['{', '{"a":}', "{'a':1}", 'nul', '{"a":1}}', '\u0000']) {
      const res = await api(t, 'POST', '/__probe/echo', { body, headers: { 'content-type': 'application/json' }, contract: false });
      assertProblem(res, 400, 'invalid_json');
    }
  });

  it('refuses prototype-poisoning keys as invalid_json', async () => {
    for (const body of ['{"__proto__":{"admin":true}}', '{"a":{"constructor":{"prototype":{"admin":true}}}}']) {
      const res = await api(t, 'POST', '/__probe/echo', { body, headers: { 'content-type': 'application/json' }, contract: false });
      assertProblem(res, 400, 'invalid_json');
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('hides internal faults behind 500 internal_error with only the request id', async () => {
    const res = await api(t, 'GET', '/__probe/boom', { contract: false });
    assertProblem(res, 500, 'internal_error');
    assert.doesNotMatch(res.text, /SELECT|password_hash|at .*\.ts/);
    assert.deepEqual(Object.keys(res.body).sort(), ['code', 'request_id', 'status', 'title', 'type']);
    const logged = t.logLines.find((l) => l.msg === 'unhandled error while serving request' && l.request_id === res.body.request_id);
    assert.ok(logged, 'the fault is logged with the request id');
  });

  it('logs one line per request with request_id, ip, method, route template, status and duration', async () => {
    const res = await api(t, 'GET', '/readyz', { headers: { 'x-request-id': 'log-line-check' } });
    assert.equal(res.status, 200);
    const line = t.logLines.find((l) => l.msg === 'request' && l.client_request_id === 'log-line-check');
    assert.ok(line);
    assert.match(String(line.request_id), /^[0-9a-f-]{36}$/, "request_id is the service's own; the client's is client_request_id");
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/readyz');
    assert.equal(line.status, 200);
    assert.equal(line.ip, '127.0.0.1');
    assert.equal(typeof line.duration_ms, 'number');
  });
});

describe('the request size limit on the wire', () => {
  // Listens: what is at stake is how much of the body is read off the socket (and the 413's lingering close).
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ listen: true, env: { MAX_REQUEST_SIZE_BYTES: '4096' }, extraRouters: [platformProbeRouter()] });
  });
  after(() => t.close());

  it('refuses a declared Content-Length over the limit with 413 before reading the body', async () => {
    // Send only the headers: the answer must come without the body ever being sent.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${t.baseUrl}/__probe/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).code, 'payload_too_large');
  });

  it('cuts off a chunked body as soon as it passes the limit, without reading the rest', async () => {
    const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /__probe/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    let response = '';
    let closed = false;
    socket.on('data', (d) => (response += d.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server cuts the upload
    // Offer up to 1 GiB in 64 KiB chunks; stop as soon as the server answers or hangs up.
    const chunk = `${(64 * 1024).toString(16)}\r\n${'a'.repeat(64 * 1024)}\r\n`;
    let sent = 0;
    while (sent < 1024 * 1024 * 1024 && !closed && !response.includes('\r\n\r\n')) {
      const ok = socket.write(chunk);
      sent += 64 * 1024;
      // Like a real client, read while writing: the answer arrives while the upload is still going.
      await new Promise((r) => (ok ? setImmediate(r) : setTimeout(r, 5)));
    }
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /"code":"payload_too_large"/);
    assert.ok(sent < 64 * 1024 * 1024, `server kept reading: ${sent} bytes were accepted before the answer`);
  });
});
