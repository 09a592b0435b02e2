import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Router from '@koa/router';
import { createShutdown } from '../../../service/src/platform/shutdown.js';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { spawnService } from '../../helpers/service-process.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';

function slowRouter(): Router {
  const router = new Router({ prefix: '/__probe' });
  router.get('/slow/:ms', async (ctx) => {
    await sleep(Number(ctx.params.ms));
    ctx.body = { slept: Number(ctx.params.ms) };
  });
  return router;
}

describe('graceful shutdown', () => {
  // Listens: shutdown closes the listener and drains connections; new connections must be refused.
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ listen: true, extraRouters: [slowRouter()] });
  });
  after(() => t.close());

  it('lets in-flight requests finish with their normal status, refuses new connections, exits 0', async () => {
    const exits: number[] = [];
    const shutdown = createShutdown({
      lifecycle: t.deps.lifecycle,
      logger: t.deps.logger,
      server: t.server,
      auxiliaryServers: [],
      delayMs: 0,
      graceMs: 5000,
      closeDependencies: async () => undefined,
      exit: (code) => exits.push(code),
    });
    const inFlight = [300, 600, 900].map((ms) => fetch(`${t.baseUrl}/__probe/slow/${ms}`));
    await sleep(100); // all three are now being served
    const stopping = shutdown(0, 'SIGTERM');

    const ready = await fetch(`${t.baseUrl}/readyz`).catch((e: Error) => e);
    // A new connection is refused once the listener closed (or, if it raced in, gets not-ready).
    if (!(ready instanceof Error)) assert.equal(ready.status, 503);

    const responses = await Promise.all(inFlight);
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
    assert.deepEqual(await Promise.all(responses.map((r) => r.json())), [{ slept: 300 }, { slept: 600 }, { slept: 900 }]);
    await stopping;
    assert.deepEqual(exits, [0]);
    await assert.rejects(fetch(`${t.baseUrl}/healthz`), 'new connections are refused after shutdown');
  });
});

describe('the service process on SIGTERM', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(() => database.drop());

  it('turns readiness 503 during the shutdown delay, then exits 0 and refuses connections', async () => {
    // Without a real PostgreSQL the child runs on its own embedded PGlite in a temporary directory.
    const dbEnv: Record<string, string> = database.url
      ? { NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS, DATABASE_URL: database.url, MIGRATE_ON_START: 'false' }
      : { NODE_ENV: 'development', DATA_DIR: mkdtempSync(join(tmpdir(), 'rampart-shutdown-')) };
    const service = await spawnService({
      env: { ...dbEnv, JWT_SECRET: TEST_JWT_SECRET, SHUTDOWN_DELAY_MS: '1500', SHUTDOWN_GRACE_MS: '5000' },
    });
    const base = service.baseUrl;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    service.child.kill('SIGTERM');
    await sleep(300);
    const during = await fetch(`${base}/readyz`);
    assert.equal(during.status, 503);
    assert.equal(((await during.json()) as { status: string }).status, 'not_ready');
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'liveness stays up while draining');

    assert.equal(await service.exited, 0, service.output());
    await assert.rejects(fetch(`${base}/healthz`));
    assert.match(service.output(), /shutdown complete/);
  });
});
