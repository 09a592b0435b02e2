import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { startTestApp, type InProcessTestApp } from '../../helpers/app.js';

async function loggedIp(t: InProcessTestApp, headers: Record<string, string>): Promise<unknown> {
  const id = `ip-${Math.random().toString(36).slice(2)}`;
  await t.request('/healthz', { headers: { ...headers, 'x-request-id': id } });
  return t.logLines.find((l) => l.client_request_id === id && l.msg === 'request')?.ip;
}

describe('client address and trusted proxies', () => {
  let database: TestDatabase;
  let untrusted: InProcessTestApp;
  let trusted: InProcessTestApp;
  before(async () => {
    database = await createTestDatabase();
    untrusted = await startTestApp({ database });
    trusted = await startTestApp({ database, env: { TRUSTED_PROXIES: '127.0.0.0/8' } });
  });
  after(async () => {
    await untrusted.close();
    await trusted.close();
    await database.drop();
  });

  it('ignores X-Forwarded-For when no proxy is trusted', async () => {
    assert.equal(await loggedIp(untrusted, { 'x-forwarded-for': '203.0.113.9' }), '127.0.0.1');
  });

  it('honours X-Forwarded-For from a trusted peer, taking the first untrusted hop', async () => {
    assert.equal(await loggedIp(trusted, { 'x-forwarded-for': '203.0.113.9' }), '203.0.113.9');
    assert.equal(await loggedIp(trusted, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' }), '203.0.113.9');
    assert.equal(await loggedIp(trusted, { 'x-forwarded-for': '198.51.100.1, 127.0.0.5' }), '198.51.100.1');
  });

  it('uses the peer address when a trusted proxy sends no X-Forwarded-For', async () => {
    assert.equal(await loggedIp(trusted, {}), '127.0.0.1');
  });
});
