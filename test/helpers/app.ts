import type { RequestListener, Server } from 'node:http';
import type Router from '@koa/router';
import { Writable } from 'node:stream';
import type Koa from 'koa';
import inject from 'light-my-request';
import { buildApp } from '../../service/src/app.js';
import { type SchedulingClock, systemClock } from '../../service/src/platform/clock.js';
import { type Config, loadConfig } from '../../service/src/config/load.js';
import { buildDependencies, type Dependencies, type DependencyOverrides } from '../../service/src/deps.js';
import { createHttpServer, listen } from '../../service/src/platform/http/server.js';
import { createLogger } from '../../service/src/platform/logger.js';
import { createMetrics } from '../../service/src/platform/metrics.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface FakeClock extends SchedulingClock {
  advance(ms: number): void;
}

/**
 * Real time plus an offset the test moves forward: expiries and caches judged by `now()` pass without
 * sleeping. Its timers are the real ones (the app's write-behind keeps working); tests that need
 * timers under their control use test/helpers/clock.ts's manual clock.
 */
export function fakeClock(): FakeClock {
  let offset = 0;
  return {
    ...systemClock,
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

/**
 * Every request of a test file comes from 127.0.0.1: functional tests get limits they cannot reach;
 * the rate-limit tests set the ones they exercise.
 */
export const GENEROUS_LIMITS: Record<string, string> = {
  RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '1000000',
  RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
  RATE_LIMIT_REFRESH_PER_MINUTE: '1000000',
  RATE_LIMIT_SIGNUP_PER_HOUR: '1000000',
  RATE_LIMIT_USER_PER_MINUTE: '1000000',
  // Token budgets: unlimited (0) unless a test sets them (test/service/components/chat/model-budgets.test.ts).
  MODEL_TOKENS_PER_DAY: '0',
  MODEL_TOKENS_PER_MONTH: '0',
};

/** A 64-byte base64url secret for tests (not a real secret: it exists only in test processes). */
export const TEST_JWT_SECRET = Buffer.alloc(64, 7).toString('base64url');

/** Sends one request to the app and resolves with its answer as a WHATWG Response, like `fetch`. */
export type RequestFunction = (path: string, init?: RequestInit) => Promise<Response>;

/** The app a component test drives: the real one, reached without a socket (the default). */
export interface InProcessTestApp {
  readonly config: Config;
  readonly deps: Dependencies;
  readonly app: Koa;
  readonly database: TestDatabase;
  /**
   * `fetch` for this app: `request('/v1/me', { headers })` answers a WHATWG Response. In process it is
   * dispatched to `app.callback()` from 127.0.0.1 with no socket; on a listening app it goes over the socket.
   */
  readonly request: RequestFunction;
  /** Every log line written so far, parsed. */
  readonly logLines: Record<string, unknown>[];
  /** Raw log output (for "this secret never appears" checks). */
  logText(): string;
  close(): Promise<void>;
}

/** The app listening on an ephemeral port of 127.0.0.1, for the tests that need a real socket. */
export interface TestApp extends InProcessTestApp {
  readonly server: Server;
  readonly baseUrl: string;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  database?: TestDatabase;
  /** Collect prom-client's default process metrics too (off by default: they cost a timer). */
  defaultMetrics?: boolean;
  /** A controllable clock (see `fakeClock`). */
  clock?: SchedulingClock;
  /** Routers only this test needs (e.g. one that throws), mounted after the service's own. */
  extraRouters?: Router[];
  /** Replaces the configured model (a scripted one the test drives); see DependencyOverrides.model. */
  model?: DependencyOverrides['model'];
  /** Re-readable keyring source (reload tests); see DependencyOverrides.keyringSource. */
  keyringSource?: DependencyOverrides['keyringSource'];
  /**
   * `true`: listen on an ephemeral port of 127.0.0.1, for the suites that need a real socket (streams,
   * aborts, over-limit bodies, shutdown). Default: no server, no port; `request()` goes straight to
   * `app.callback()` — the Koa way, for every test that needs no socket.
   */
  listen?: boolean;
}

/**
 * Starts the real app against a throwaway database, logs captured: in process only (the default), or
 * with `listen: true` on an ephemeral port. `close()` is the one cleanup either way.
 */
export function startTestApp(options?: TestAppOptions & { listen?: false }): Promise<InProcessTestApp>;
export function startTestApp(options: TestAppOptions & { listen: true }): Promise<TestApp>;
export function startTestApp(options: TestAppOptions): Promise<InProcessTestApp>;
export async function startTestApp(options: TestAppOptions = {}): Promise<InProcessTestApp | TestApp> {
  const { config } = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info', ...GENEROUS_LIMITS, ...options.env });
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const database = options.database ?? (await createTestDatabase());
  const deps = await buildDependencies(config, logger, { db: database.db, metrics: createMetrics({ defaultMetrics: options.defaultMetrics ?? false }), clock: options.clock, keyringSource: options.keyringSource, model: options.model });
  const app = buildApp(deps, { extraRouters: options.extraRouters });
  const ownsDatabase = !options.database;
  const closeApp = async () => {
    await deps.close(); // the service's own close (components, Redis); the database is the test's
    if (ownsDatabase) await database.drop();
  };
  const logs = {
    get logLines() {
      return chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => chunks.join(''),
  };
  if (options.listen !== true) {
    return Object.assign(logs, { config, deps, app, database, request: injector(app.callback(), config.http.maxRequestSizeBytes), close: closeApp });
  }

  const server = createHttpServer(app);
  const address = await listen(server, 0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return Object.assign(logs, {
    config,
    deps,
    app,
    database,
    server,
    baseUrl,
    request: ((path, init) => fetch(`${baseUrl}${path}`, init)) satisfies RequestFunction,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeApp();
    },
  });
}

/** What `fetch` sends without being asked (undici), so the app sees the same request either way. */
const FETCH_DEFAULT_HEADERS = { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node' };

/** Statuses whose response has no body (a WHATWG Response refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` that dispatches to a Node request handler in process: light-my-request's injector (an
 * IncomingMessage/ServerResponse pair, no socket, the peer 127.0.0.1, so rate-limit keys and the
 * trusted-proxy rules see what a loopback client gets). The URL, headers and body are normalised by
 * a WHATWG Request first, as `fetch` does; the answer is buffered whole, then handed back as a
 * WHATWG Response.
 *
 * What the service does to the socket itself cannot happen without one, so those requests are
 * refused here with the reason rather than failing inside the app: an event stream (the route sets
 * TCP_NODELAY), a body over the size limit (the 413 half-closes the connection) and an abort (a
 * client going away). Their tests listen.
 */
function injector(handler: RequestListener, maxBodyBytes: number): RequestFunction {
  return async (path, init) => {
    const request = new Request(new URL(path, 'http://127.0.0.1'), init);
    const refuse = (why: string) => new Error(`an in-process request cannot ${why}: start the app listening (startTestApp without listen: false)`);
    if (init?.signal) throw refuse('be aborted (a client going away is a socket event)');
    if (/text\/event-stream/i.test(request.headers.get('accept') ?? '')) throw refuse('stream events (the route sets TCP_NODELAY on the socket)');
    const payload = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const declared = Number(request.headers.get('content-length') ?? 0);
    if (Math.max(payload?.length ?? 0, declared) > maxBodyBytes) throw refuse('send a body over the size limit (the 413 half-closes the socket)');

    const url = new URL(request.url);
    const headers: Record<string, string> = { ...FETCH_DEFAULT_HEADERS, host: url.host };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (!payload && (request.method === 'POST' || request.method === 'PUT')) headers['content-length'] = '0'; // as fetch does
    const answer = await inject(handler, { method: request.method, url: url.pathname + url.search, headers, payload, remoteAddress: '127.0.0.1' });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) responseHeaders.append(name, String(one));
    }
    const noBody = request.method === 'HEAD' || NULL_BODY_STATUSES.has(answer.statusCode);
    return new Response(noBody ? null : answer.rawPayload, { status: answer.statusCode, statusText: answer.statusMessage, headers: responseHeaders });
  };
}
