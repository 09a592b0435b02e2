import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Router from '@koa/router';
import { createShutdown, type ShutdownOptions } from '../../../service/src/platform/shutdown.js';
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

/** A shutdown of `app` as the composition root builds one (no delay, no auxiliary listener), with what the test records. */
function shutdownOf(app: TestApp, options: Pick<ShutdownOptions, 'graceMs' | 'closeDependencies' | 'exit'>) {
  return createShutdown({
    lifecycle: app.deps.lifecycle,
    logger: app.deps.logger,
    server: app.server,
    inFlight: app.deps.inFlight,
    auxiliaryServers: [],
    delayMs: 0,
    ...options,
  });
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
    const shutdown = shutdownOf(t, { graceMs: 5000, closeDependencies: async () => undefined, exit: (code) => exits.push(code) });
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

describe('graceful shutdown, a handler whose client has left', () => {
  /** A route that runs until the test releases it; `entered` settles once the handler is running. */
  function heldRoute(fail: boolean) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
    const router = new Router({ prefix: '/__probe' });
    router.get('/held', async (ctx) => {
      const connectionClosed = new Promise((resolve) => ctx.res.once('close', resolve));
      enter();
      await Promise.all([released, connectionClosed]); // the server has seen its client go
      if (fail) throw new Error('the work failed after its client had gone');
      ctx.body = { done: true };
    });
    return { router, release, entered };
  }

  /** Sends GET /__probe/held, waits until its handler runs, then the client gives up (its connection closes). */
  async function abandonedRequest(app: TestApp, entered: Promise<void>): Promise<void> {
    const client = new AbortController();
    const request = fetch(`${app.baseUrl}/__probe/held`, { signal: client.signal }).then(
      () => 'answered',
      () => 'aborted',
    );
    await entered;
    client.abort();
    assert.equal(await request, 'aborted');
  }

  /**
   * Starts a shutdown of `app` whose closing of the pools and exit are recorded in `events`; `stopping`
   * settles when it has exited, `drainDone` once the listener has no connection left (where the HTTP
   * server alone counts the drain as done).
   */
  function shutdownAfterAbandonedRequest(app: TestApp, graceMs: number) {
    const events: string[] = [];
    const shutdown = shutdownOf(app, {
      graceMs,
      closeDependencies: async () => {
        events.push('dependencies closed');
      },
      exit: (code) => events.push(`exit ${code}`),
    });
    const listenerClosed = new Promise((resolve) => app.server.once('close', resolve));
    const stopping = shutdown(0, 'SIGTERM');
    const drainDone = listenerClosed.then(() => new Promise((resolve) => setImmediate(resolve)));
    return { events, stopping, drainDone };
  }

  it('closes the dependencies only after the handler has returned, within the grace period', async (t) => {
    const held = heldRoute(false);
    const app = await startTestApp({ listen: true, extraRouters: [held.router] });
    t.after(() => app.close());
    await abandonedRequest(app, held.entered);
    const { events, stopping, drainDone } = shutdownAfterAbandonedRequest(app, 60_000);
    await drainDone;
    assert.equal(app.deps.inFlight.count, 1);
    assert.deepEqual(events, [], 'the pools stay open while the handler runs');
    held.release();
    await stopping;
    assert.deepEqual(events, ['dependencies closed', 'exit 0']);
    const drain = app.logLines.find((l) => l.msg === 'all in-flight requests finished');
    assert.equal(drain?.drained, true);
  });

  it('gives up on it when the grace period is over, says so, and closes the dependencies then', async (t) => {
    const held = heldRoute(false);
    const app = await startTestApp({ listen: true, extraRouters: [held.router] });
    t.after(() => {
      held.release();
      return app.close();
    });
    await abandonedRequest(app, held.entered);
    t.mock.timers.enable({ apis: ['setTimeout'] }); // the grace period's timers, advanced below
    const { events, stopping, drainDone } = shutdownAfterAbandonedRequest(app, 30_000);
    await drainDone;
    assert.deepEqual(events, []);
    t.mock.timers.tick(30_000);
    await stopping;
    assert.deepEqual(events, ['dependencies closed', 'exit 0']);
    const drain = app.logLines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('grace period over'));
    assert.equal(drain?.msg, 'grace period over: requests whose clients had left were still running');
    assert.equal(drain?.drained, false);
    assert.equal(drain?.abandoned_requests, 1);
  });

  it('logs an error that happens after the client left with its own status, not 404', async (t) => {
    const held = heldRoute(true);
    const app = await startTestApp({ listen: true, extraRouters: [held.router] });
    t.after(() => app.close());
    await abandonedRequest(app, held.entered);
    held.release();
    assert.equal(await app.deps.inFlight.settled(60_000), true);
    const line = app.logLines.find((l) => l.msg === 'request' && l.route === '/__probe/held');
    assert.equal(line?.status, 500, JSON.stringify(line));
    assert.equal(line?.level, 'error');
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
