import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDatabase } from '../../../../service/src/platform/db.js';
import { readBuildInfo } from '../../../../service/src/platform/build-info.js';
import { startTestApp, type InProcessTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';

describe('health endpoints', () => {
  let t: InProcessTestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('GET /healthz answers 200 {status:"ok"}', async () => {
    const res = await api(t, 'GET', '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('GET /readyz checks the database and answers ready, with the state of each check only', async () => {
    const res = await api(t, 'GET', '/readyz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ready', checks: { database: 'ok' } });
  });

  it('GET /version reports version, git sha, build time and the Node running it', async () => {
    const res = await api(t, 'GET', '/version');
    assert.equal(res.status, 200);
    assert.equal(res.body.node_version, process.version);
    assert.match(res.body.git_sha, /^([0-9a-f]{40}|unknown)$/);
    assert.ok(!Number.isNaN(Date.parse(res.body.built_at)));
    assert.equal(typeof res.body.version, 'string');
  });

  it('GET /openapi.json serves the OpenAPI 3.1 document', async () => {
    const res = await api(t, 'GET', '/openapi.json');
    assert.equal(res.status, 200);
    assert.match(res.body.openapi, /^3\.1\./);
  });
});

describe('readiness when the database is down', () => {
  it('answers 503 with checks.database "failing" and no address, port, hostname, user or error text; the log has the error', async (t) => {
    // Nothing listens on port 9: connections are refused at once.
    const db = createDatabase({ url: 'postgres://rampart_app:hunter2@localhost:9/rampart', poolMax: 2, acquireTimeoutMs: 500, statementTimeoutMs: 1000 });
    const app = await startTestApp({ database: { db, kind: 'postgres', url: undefined, drop: () => db.close() } });
    t.after(async () => {
      await app.close();
      await app.database.drop();
    });

    const started = Date.now();
    const res = await api(app, 'GET', '/readyz', { headers: { 'x-request-id': 'readyz-db-down' } });
    assert.ok(Date.now() - started < 3000, 'fast');
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { status: 'not_ready', checks: { database: 'failing' } });
    for (const leak of [
      /\b\d{1,3}(\.\d{1,3}){3}\b/, // an IPv4 address
      /::|[0-9a-f]{1,4}:[0-9a-f]{1,4}:/i, // an IPv6 address
      /:\d+/, // a port
      /localhost|rampart_app|hunter2|postgres/i, // the hostname, user, password, scheme
      /ECONN|refused|error|connect|timeout|within|\bms\b/i, // error text
    ]) {
      assert.doesNotMatch(res.text, leak);
    }

    const failure = app.logLines.find((l) => l.msg === 'readiness check failed');
    assert.ok(failure, 'the failing check is logged');
    assert.equal(failure.level, 'warn');
    assert.equal(failure.check, 'database');
    assert.match(String(failure.error), /ECONNREFUSED 127\.0\.0\.1:9/);
    assert.equal(failure.client_request_id, 'readyz-db-down', "logged with the probe's request id beside ours");
    assert.match(String(failure.request_id), /^[0-9a-f-]{36}$/, 'the request id in the log is the service’s own');

    assert.equal((await api(app, 'GET', '/healthz')).status, 200, 'liveness does not depend on the database');
  });
});

describe('readiness while shutting down', () => {
  it('answers 503 with lifecycle "failing" next to the dependency checks, and asks the client to reconnect elsewhere', async (t) => {
    const app = await startTestApp();
    t.after(() => app.close());

    app.deps.lifecycle.beginShutdown();
    const res = await api(app, 'GET', '/readyz');
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { status: 'not_ready', checks: { database: 'ok', lifecycle: 'failing' } });
    assert.equal(res.headers.get('connection'), 'close');
    assert.equal(
      app.logLines.filter((l) => l.msg === 'readiness check failed').length,
      0,
      'draining is no dependency failure: nothing to warn about',
    );
  });
});

describe('health routes are never rate-limited or blocked', () => {
  const HEALTH_ROUTES = ['/healthz', '/readyz', '/version'] as const;
  /** Tiny limits, and a trusted proxy so each test chooses its client address. */
  const TINY_LIMITS = { RATE_LIMIT_GLOBAL_PER_MINUTE: '2', ABUSE_BLOCK_AFTER_REJECTIONS: '1', ABUSE_BLOCK_SECONDS: '600', TRUSTED_PROXIES: '127.0.0.0/8' };
  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('an address blocked by the abuse breaker still gets 200 from /healthz, /readyz and /version, many times over, while every other route gets 429', async (t) => {
    const app = await startTestApp({ env: TINY_LIMITS });
    t.after(() => app.close());
    const abuser = from('192.0.2.50');

    // Spend the global budget, then keep hammering until the breaker blocks the address.
    for (let i = 0; i < 2; i++) assert.equal((await api(app, 'GET', '/openapi.json', { headers: abuser })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await api(app, 'GET', '/openapi.json', { headers: abuser })).status, 429);
    const blocked = await api(app, 'GET', '/openapi.json', { headers: abuser });
    assert.equal(blocked.status, 429);
    assert.match(blocked.headers.get('ratelimit-policy') ?? '', /^"abuse";/, 'blocked by the breaker, not only limited');

    for (let round = 0; round < 10; round++) {
      for (const path of HEALTH_ROUTES) {
        const res = await api(app, 'GET', path, { headers: { ...abuser, 'x-request-id': `probe-${round}-${path.slice(1)}` } });
        assert.equal(res.status, 200, `${path}, round ${round + 1}: ${res.text}`);
        assert.equal(res.headers.get('x-request-id'), `probe-${round}-${path.slice(1)}`, 'the request id is kept');
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', 'security headers are kept');
        assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
        assert.equal(res.headers.get('ratelimit-policy'), null, 'no bucket was consulted');
      }
    }

    // Everything else from that address is still refused: the exemption is those three GET routes only.
    for (const [method, path] of [
      ['GET', '/openapi.json'],
      ['GET', '/no-such-route'],
      ['DELETE', '/healthz'],
    ] as const) {
      const res = await api(app, method, path, { headers: abuser, contract: false }); // an unknown path has no operation
      assert.equal(res.status, 429, `${method} ${path}`);
      assert.equal(res.body.code, 'rate_limited');
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    }

    const metrics = await app.deps.metrics.registry.metrics();
    assert.doesNotMatch(metrics, /rate_limit_dropped_total\{[^}]*route="\/(healthz|readyz|version)"/, 'no health request was dropped');
    const accessLines = app.logLines.filter((l) => l.msg === 'request' && HEALTH_ROUTES.includes(l.route as (typeof HEALTH_ROUTES)[number]));
    assert.equal(accessLines.length, 30, 'every health request is in the access log');
    assert.ok(accessLines.every((l) => l.status === 200 && l.ip === '192.0.2.50'));
  });

  it('health requests spend no point: an address that polled them many times still has its whole budget', async (t) => {
    const app = await startTestApp({ env: TINY_LIMITS });
    t.after(() => app.close());
    const poller = from('192.0.2.51');

    for (let round = 0; round < 10; round++) {
      for (const path of HEALTH_ROUTES) assert.equal((await api(app, 'GET', path, { headers: poller })).status, 200);
    }
    const first = await api(app, 'GET', '/openapi.json', { headers: poller });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('ratelimit-policy'), '"global";q=2;w=60');
    assert.match(first.headers.get('ratelimit') ?? '', /^"global";r=1;t=\d+$/, 'the first ordinary request spends the first point');
    assert.equal((await api(app, 'GET', '/openapi.json', { headers: poller })).status, 200);
    assert.equal((await api(app, 'GET', '/openapi.json', { headers: poller })).status, 429, 'the budget itself still holds');
    assert.equal((await api(app, 'GET', '/healthz', { headers: poller })).status, 200, 'and the probes still answer');
  });
});

describe('build info', () => {
  it('prefers GIT_SHA from the environment', () => {
    assert.equal(readBuildInfo({ gitSha: 'abcdef1' }).git_sha, 'abcdef1');
  });
  it('reads the build info file written by the build', () => {
    const root = mkdtempSync(join(tmpdir(), 'rampart-build-'));
    writeFileSync(join(root, 'package.json'), '{"version":"9.9.9"}');
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist/build-info.json'), JSON.stringify({ version: '1.2.3', git_sha: 'a'.repeat(40), built_at: '2026-01-02T03:04:05.000Z' }));
    assert.deepEqual(readBuildInfo({ root }), {
      version: '1.2.3',
      git_sha: 'a'.repeat(40),
      built_at: '2026-01-02T03:04:05.000Z',
      node_version: process.version,
    });
  });
  it('says unknown outside a git checkout without build info', () => {
    const root = mkdtempSync(join(tmpdir(), 'rampart-nogit-'));
    writeFileSync(join(root, 'package.json'), '{"version":"9.9.9"}');
    const info = readBuildInfo({ root, now: new Date('2026-05-05T00:00:00Z') });
    assert.deepEqual(info, { version: '9.9.9', git_sha: 'unknown', built_at: '2026-05-05T00:00:00.000Z', node_version: process.version });
  });
});
