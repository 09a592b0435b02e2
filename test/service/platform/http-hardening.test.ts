/**
 * HTTP behaviour the ASVS mapping (docs/asvs.md) claims and docs/api.md does not spell out: no CORS, the
 * whole CSP, TRACE refused, charsets, no token in the query string, no parameter pollution, no default
 * account, and log lines that cannot be forged.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../service/src/platform/logger.js';
import { type InProcessTestApp, startTestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { signedUpUser } from '../../helpers/users.js';

describe('HTTP hardening beyond docs/api.md (the ASVS 5.0 proofs)', () => {
  let t: InProcessTestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('a freshly migrated database holds no account (no default user)', async () => {
    const [row] = await t.database.db.knex('users').count({ count: '*' });
    assert.equal(Number(row?.count), 0);
  });

  it('sends no CORS header to a cross-origin request or a preflight, and sets no cookie', async () => {
    const user = await signedUpUser(t);
    const origin = 'https://evil.example';
    const answers = [
      await api(t, 'GET', '/v1/me', { token: user.access_token, headers: { origin } }),
      await api(t, 'POST', '/v1/auth/login', { json: { email: user.email, password: user.password }, headers: { origin } }),
      await api(t, 'OPTIONS', '/v1/conversations', {
        contract: false,
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      }),
    ];
    assert.equal(answers[0]?.status, 200);
    assert.equal(answers[1]?.status, 200);
    for (const res of answers) {
      const names = [...res.headers.keys()];
      assert.deepEqual(
        names.filter((n) => n.startsWith('access-control-')),
        [],
        `no CORS header (${res.status})`,
      );
      assert.equal(res.headers.get('set-cookie'), null);
      assert.notEqual(res.headers.get('vary')?.toLowerCase().includes('origin'), true);
    }
  });

  it('the Content-Security-Policy forbids everything by default, base-uri and form-action included', async () => {
    for (const path of ['/healthz', '/v1/me', '/no/such/route']) {
      const res = await api(t, 'GET', path, { contract: false });
      const directives = new Map(
        (res.headers.get('content-security-policy') ?? '')
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .filter((d) => d[0])
          .map(([name, ...values]) => [name, values.join(' ')]),
      );
      // object-src, script-src and the rest fall back to default-src.
      assert.equal(directives.get('default-src'), "'none'", path);
      assert.equal(directives.has('object-src') ? directives.get('object-src') : directives.get('default-src'), "'none'", path);
      assert.equal(directives.get('base-uri'), "'none'", path);
      assert.equal(directives.get('form-action'), "'none'", path);
      assert.equal(directives.get('frame-ancestors'), "'none'", path);
    }
  });

  it('refuses TRACE and TRACK without echoing the request', async (tc) => {
    // fetch refuses to send TRACE and light-my-request knows no TRACK: a socket of our own, for this test only.
    const server = createServer(t.app.callback());
    const { port } = await new Promise<AddressInfo>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo)),
    );
    tc.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const send = (method: string, path: string) =>
      new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            port,
            host: '127.0.0.1',
            method,
            path,
            agent: false,
            headers: { authorization: 'Bearer secret-looking-value', cookie: 'session=also-secret' },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    for (const method of ['TRACE', 'TRACK']) {
      for (const path of ['/healthz', '/v1/me', '/']) {
        const res = await send(method, path);
        assert.ok([400, 404, 405, 501].includes(res.status), `${method} ${path} answered ${res.status}`);
        assert.doesNotMatch(res.body, /secret-looking-value|also-secret/);
        assert.doesNotMatch(res.type ?? '', /message\/http/);
      }
    }
    assert.equal((await send('TRACE', '/healthz')).status, 405, 'TRACE on a served path is a wrong method');
  });

  it('names the media type and a UTF-8 charset on every answer with a body', async () => {
    const user = await signedUpUser(t);
    const answers = [
      await api(t, 'GET', '/v1/me', { token: user.access_token }),
      await api(t, 'GET', '/healthz'),
      await api(t, 'GET', '/openapi.json'),
      await api(t, 'GET', '/v1/me'),
      await api(t, 'GET', '/no/such/route'),
      await api(t, 'POST', '/v1/auth/login', { body: '{', headers: { 'content-type': 'application/json' } }),
    ];
    for (const res of answers) {
      assert.ok(res.text.length > 0);
      assert.match(
        res.headers.get('content-type') ?? '',
        /^application\/(problem\+)?json; charset=utf-8$/i,
        `${res.status} ${res.text.slice(0, 40)}`,
      );
    }
  });

  it('takes no access token from the query string', async () => {
    const user = await signedUpUser(t);
    for (const name of ['access_token', 'token', 'authorization', 'bearer']) {
      const res = await api(t, 'GET', `/v1/me?${name}=${encodeURIComponent(user.access_token)}`);
      assert.equal(res.status, 401, name);
      assert.equal(res.body.code, 'invalid_token');
    }
    assert.equal((await api(t, 'GET', '/v1/me', { token: user.access_token })).status, 200);
  });

  it('refuses a repeated query parameter instead of picking one', async () => {
    const user = await signedUpUser(t);
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await api(t, 'POST', '/v1/conversations', { token: user.access_token, json: { title: `c${i}` } })).status,
        201,
      );
    const single = await api(t, 'GET', '/v1/conversations?limit=2', { token: user.access_token });
    assert.equal(single.status, 200);
    assert.equal(single.body.items.length, 2);
    for (const query of [
      'limit=1&limit=3',
      'limit=2&limit=2',
      `cursor=${single.body.next_cursor}&cursor=${single.body.next_cursor}`,
    ]) {
      const res = await api(t, 'GET', `/v1/conversations?${query}`, { token: user.access_token });
      assert.equal(res.status, 400, query);
      assert.equal(res.body.code, 'validation_failed');
    }
  });
});

describe('log lines', () => {
  function capture() {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return { logger: createLogger({ level: 'info', destination }), lines: () => chunks.join('').split('\n').filter(Boolean) };
  }

  it('a value with CR LF and a forged JSON line stays inside one log line', () => {
    const { logger, lines } = capture();
    const forged = 'x\r\n{"level":60,"msg":"forged"}\n\u2028\u0000end';
    logger.warn({ user_agent: forged, email: forged }, `refused ${forged}`);
    const written = lines();
    assert.equal(written.length, 1, written.join('\n'));
    const line = JSON.parse(written[0] ?? '');
    assert.equal(line.user_agent, forged);
    assert.equal(line.msg, `refused ${forged}`);
  });

  it('stamps every line with an ISO 8601 UTC time', () => {
    const { logger, lines } = capture();
    logger.info('one');
    logger.error({ err: new Error('two') }, 'two');
    for (const text of lines()) {
      const { time } = JSON.parse(text);
      assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000);
    }
  });
});
