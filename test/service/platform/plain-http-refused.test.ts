import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type InProcessTestApp } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';

/**
 * Issue 25 (ASVS 5.0 4.1.2): in production the API refuses a request its trusted proxy received over
 * plain HTTP (X-Forwarded-Proto: http) with 403 `https_required` problem+json — never a redirect, so a
 * client sending a bearer token in the clear notices. Outside production, and for a peer that is not a
 * trusted proxy (its X-Forwarded-Proto is ignored), nothing changes.
 */
const PRODUCTION = {
  NODE_ENV: 'production',
  // The database is the test's own (startTestApp); production only requires the variable to be set.
  DATABASE_URL: 'postgres://unused@127.0.0.1:5432/unused',
  TRUSTED_PROXIES: '127.0.0.0/8',
  ...PRODUCTION_ACCOUNT_SETTINGS,
};

describe('plain HTTP on the API host', () => {
  let database: TestDatabase;
  let production: InProcessTestApp;
  let productionNoProxy: InProcessTestApp;
  let development: InProcessTestApp;
  before(async () => {
    database = await createTestDatabase();
    production = await startTestApp({ database, env: PRODUCTION });
    productionNoProxy = await startTestApp({ database, env: { ...PRODUCTION, TRUSTED_PROXIES: '' } });
    development = await startTestApp({ database, env: { TRUSTED_PROXIES: '127.0.0.0/8' } });
  });
  after(async () => {
    await production?.close();
    await productionNoProxy?.close();
    await development?.close();
    await database?.drop();
  });

  it('production: refused with 403 https_required problem+json, no redirect, whatever the route', async () => {
    for (const [path, init] of [
      ['/v1/me', { headers: { 'x-forwarded-proto': 'http', authorization: 'Bearer abc.def.ghi' } }],
      [
        '/v1/auth/login',
        {
          method: 'POST',
          headers: { 'x-forwarded-proto': 'http', 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(12) }),
        },
      ],
      ['/healthz', { headers: { 'x-forwarded-proto': 'HTTP' } }],
      ['/nowhere', { headers: { 'x-forwarded-proto': 'http' } }],
    ] as const) {
      const res = await production.request(path, { ...init, redirect: 'manual' });
      assert.equal(res.status, 403, path);
      assert.equal(res.headers.get('location'), null, `${path}: never a redirect`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const body = (await res.json()) as { code: string; title: string; status: number };
      assert.equal(body.code, 'https_required', path);
      assert.equal(body.title, 'HTTPS Required');
    }
    const log = production.logLines.filter((l) => l.msg === 'request' && l.status === 403);
    assert.ok(log.length >= 4, 'each refusal is in the access log');
  });

  it('production: HTTPS through the proxy, and direct requests (probes), are served', async () => {
    assert.equal((await production.request('/healthz', { headers: { 'x-forwarded-proto': 'https' } })).status, 200);
    assert.equal((await production.request('/healthz')).status, 200);
    assert.equal((await production.request('/v1/me', { headers: { 'x-forwarded-proto': 'https' } })).status, 401);
  });

  it('production: X-Forwarded-Proto from a peer that is not a trusted proxy is ignored', async () => {
    assert.equal((await productionNoProxy.request('/healthz', { headers: { 'x-forwarded-proto': 'http' } })).status, 200);
  });

  it('outside production nothing is refused', async () => {
    assert.equal((await development.request('/healthz', { headers: { 'x-forwarded-proto': 'http' } })).status, 200);
  });
});
