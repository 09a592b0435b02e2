import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type InProcessTestApp } from '../helpers/app.js';
import { api } from '../helpers/client.js';

/** Bugs the fuzz suite found, pinned one by one so they stay fixed (issue 12). */
describe('inputs the fuzz suite found', () => {
  let t: InProcessTestApp;
  let token: string;
  let conversationId: string;
  before(async () => {
    t = await startTestApp({ env: { BUILTIN_MODEL_DELAY_MS: '0' } });
    const s = await api(t, 'POST', '/v1/auth/signup', { json: { email: 'cursor@example.com', password: 'cursor fuzz password 12345' } });
    token = s.body.access_token;
    conversationId = (await api(t, 'POST', '/v1/conversations', { token, json: {} })).body.id;
  });
  after(() => t.close());

  const forged = (at: string) => Buffer.from(JSON.stringify([at, '3b41aa5f-ead4-41d7-a8f9-0ca40499022b'])).toString('base64url');

  // Each has the shape of PostgreSQL's timestamptz text but names no real instant: PostgreSQL
  // refuses it ("date/time field value out of range"), which was a 500.
  for (const at of ['0011-98-87 06:05:02.123456+00', '8320-34-99 65:94:23Z', '2021-02-29 00:00:00+00', '0000-01-01 00:00:00+00', '2020-01-01 00:00:00+16', '2020-01-01 24:00:00+00', '2020-04-31 00:00:00+00']) {
    it(`a cursor carrying "${at}" is a 400 validation_failed, not a 500`, async () => {
      for (const path of ['/v1/conversations', `/v1/conversations/${conversationId}/messages`]) {
        const res = await api(t, 'GET', `${path}?cursor=${forged(at)}`, { token });
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.equal(res.body.code, 'validation_failed');
        assert.equal(res.body.errors[0].field, 'cursor');
      }
    });
  }

  it('a cursor on a real instant in any PostgreSQL form is still accepted', async () => {
    for (const at of ['2020-02-29 23:59:59.999999+00', '2026-11-27 23:19:05+05:30', '2026-11-27T23:19:05Z', '0001-01-01 00:00:00+15:59']) {
      const res = await api(t, 'GET', `/v1/conversations?cursor=${forged(at)}`, { token });
      assert.equal(res.status, 200, `${at}: ${res.text}`);
    }
  });
});
