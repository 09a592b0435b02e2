import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Router from '@koa/router';
import { createShutdown } from '../../../service/src/platform/shutdown.js';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';

function slowRouter(): Router {
  const router = new Router({ prefix: '/__probe' });
  router.get('/slow/:ms', async (ctx) => {
    await sleep(Number(ctx.params.ms));
    ctx.body = { slept: Number(ctx.params.ms) };
  });
  return router;
}

describe('graceful shutdown', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ extraRouters: [slowRouter()] });
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
    const dbEnv = database.url
      ? { NODE_ENV: 'production', DATABASE_URL: database.url, MIGRATE_ON_START: 'false' }
      : { NODE_ENV: 'development', DATA_DIR: mkdtempSync(join(tmpdir(), 'rampart-shutdown-')) };
    const child = spawn(process.execPath, ['--require', './service/src/platform/threadpool.cjs', '--import', 'tsx', 'service/src/main.ts'], {
      env: {
        ...process.env,
        ...dbEnv,
        JWT_SECRET: TEST_JWT_SECRET,
        PORT: '0',
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        SHUTDOWN_DELAY_MS: '1500',
        SHUTDOWN_GRACE_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`service exited early: ${output}`);
      const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
      return line ? (JSON.parse(line).port as number) : undefined;
    }, 60_000);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    child.kill('SIGTERM');
    await sleep(300);
    const during = await fetch(`${base}/readyz`);
    assert.equal(during.status, 503);
    assert.equal(((await during.json()) as { status: string }).status, 'not_ready');
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'liveness stays up while draining');

    assert.equal(await exited, 0, output);
    await assert.rejects(fetch(`${base}/healthz`));
    assert.match(output, /shutdown complete/);
  });
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}
