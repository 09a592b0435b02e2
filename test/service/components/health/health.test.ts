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

  it('GET /readyz checks the database and answers ready', async () => {
    const res = await api(t, 'GET', '/readyz');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ready');
    assert.equal(res.body.checks.database.status, 'ok');
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
  let t: InProcessTestApp;
  before(async () => {
    // Nothing listens on port 9: connections are refused at once.
    const db = createDatabase({ url: 'postgres://nobody@127.0.0.1:9/none', poolMax: 2, acquireTimeoutMs: 500, statementTimeoutMs: 1000 });
    t = await startTestApp({ database: { db, kind: 'postgres', url: undefined, drop: () => db.close() } });
  });
  after(async () => {
    await t.close();
    await t.database.drop();
  });

  it('answers 503 not_ready with the failing check, fast, while /healthz stays 200', async () => {
    const started = Date.now();
    const res = await api(t, 'GET', '/readyz');
    assert.equal(res.status, 503);
    assert.equal(res.body.status, 'not_ready');
    assert.equal(res.body.checks.database.status, 'fail');
    assert.doesNotMatch(JSON.stringify(res.body), /nobody@/);
    assert.ok(Date.now() - started < 3000);
    assert.equal((await api(t, 'GET', '/healthz')).status, 200);
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
