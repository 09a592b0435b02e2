import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { GENEROUS_LIMITS, TEST_JWT_SECRET } from '../../helpers/app.js';
import { type ServiceProcess, spawnService } from '../../helpers/service-process.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { testRedisUrl } from '../../helpers/services.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';
import { redisKeyPrefix } from '../../helpers/redis-keys.js';

/** Every REDIS_KEY_PREFIX of this file starts with it; its keys are deleted when the file's tests end. */
const REDIS_PREFIX = redisKeyPrefix('tracing-test');

/**
 * Tracing end to end: the real service process, started as package.json "start" starts it, exports
 * its spans over OTLP/HTTP to a receiver in this test. With OTEL_EXPORTER_OTLP_ENDPOINT unset the
 * same command loads none of the SDK.
 */

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  scope: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

const SPAN_KIND_SERVER = 2;

/** AnyValue → plain value (string, number, boolean; arrays and maps as their JSON). */
function plain(value: Record<string, unknown>): unknown {
  const [kind, v] = Object.entries(value)[0] ?? [];
  if (kind === 'intValue') return Number(v);
  return v;
}

function attributes(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));
}

/** A minimal OTLP/HTTP collector: POST /v1/traces with the JSON encoding (what exporter-trace-otlp-http sends). */
async function startReceiver(): Promise<{ url: string; spans: ExportedSpan[]; close(): Promise<void> }> {
  const spans: ExportedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const request = JSON.parse(body.toString('utf8'));
      for (const rs of request.resourceSpans ?? []) {
        const resource = attributes(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              kind: s.kind,
              scope: ss.scope?.name,
              attributes: attributes(s.attributes),
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Preloaded into the service: at exit, reports which OpenTelemetry modules were loaded and which
 * tracer provider the API ended with. A synchronous resolve hook (module.registerHooks) sees every
 * module the process resolves, ES modules (the SDK ships .mjs since 0.30x) and CommonJS alike; the
 * require cache adds CommonJS loaded before the hook.
 */
const MODULE_PROBE = `data:text/javascript,${encodeURIComponent(`
import { createRequire, registerHooks } from 'node:module';
const require = createRequire(process.cwd() + '/');
const OTEL = /@opentelemetry[\\/](sdk-|exporter-|instrumentation)|-in-the-middle/;
const short = (p) => p.slice(p.lastIndexOf('node_modules'));
const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    if (OTEL.test(result.url)) seen.add(short(result.url));
    return result;
  },
});
process.on('exit', () => {
  for (const p of Object.keys(require.cache)) if (OTEL.test(p)) seen.add(short(p));
  const provider = require('@opentelemetry/api').trace.getTracerProvider().getDelegate().constructor.name;
  process.stderr.write('MODULE_PROBE ' + JSON.stringify({ provider, loaded: [...seen] }) + '\\n');
});
`)}`;

/** Every service a test started: stopped after the file whatever the tests' outcome (stop is idempotent). */
const started = new Set<ServiceProcess>();
after(() => Promise.all([...started].map((s) => s.stop())));

/** The entry point of package.json "start" (plus the probe). */
async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await spawnService({
    inherit: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))),
    imports: [MODULE_PROBE],
    env: { ...GENEROUS_LIMITS, ...env, BUILTIN_MODEL_DELAY_MS: '0', SHUTDOWN_DELAY_MS: '0' },
    startTimeoutMs: 20_000,
  });
  started.add(service);
  return service;
}

async function post(baseUrl: string, path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.status < 300, `${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Signs up, opens a conversation and gets a (non-streamed) reply from the builtin model. */
async function signupAndChat(baseUrl: string) {
  const email = `trace-${randomBytes(6).toString('hex')}@example.com`;
  const password = `Tr4ce-${randomBytes(12).toString('base64url')}`;
  const signup = await post(baseUrl, '/v1/auth/signup', { email, password });
  const conversation = await post(baseUrl, '/v1/conversations', { title: 'traced' }, signup.access_token);
  await post(baseUrl, `/v1/conversations/${conversation.id}/messages`, { content: 'hello, tracer' }, signup.access_token);
  return { email, password, conversationId: conversation.id as string };
}

async function stop(
  service: ServiceProcess,
): Promise<{ code: number | null; logs: any[]; probe: { provider: string; loaded: string[] } }> {
  service.child.kill('SIGTERM');
  const code = await service.exited;
  const lines = service.output().split('\n');
  const probeLine = lines.find((l) => l.startsWith('MODULE_PROBE '));
  assert.ok(probeLine, `no module probe line in: ${service.output()}`);
  const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { code, logs, probe: JSON.parse(probeLine.slice('MODULE_PROBE '.length)) };
}

describe('tracing', () => {
  let database: TestDatabase;
  let dbEnv: Record<string, string>;
  before(async () => {
    database = await createTestDatabase();
    // Real PostgreSQL makes the pg spans meaningful; without it the child runs its own PGlite.
    dbEnv = database.url
      ? // Verification off: the run signs up and chats straight away (the verification flow has its own tests).
        { NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS, EMAIL_VERIFICATION: 'off', DATABASE_URL: database.url, MIGRATE_ON_START: 'false', JWT_SECRET: TEST_JWT_SECRET }
      : { NODE_ENV: 'development', DATA_DIR: mkdtempSync(join(tmpdir(), 'rampart-tracing-')), JWT_SECRET: TEST_JWT_SECRET };
    const redisUrl = testRedisUrl();
    if (redisUrl)
      Object.assign(dbEnv, { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `${REDIS_PREFIX}-${randomBytes(4).toString('hex')}` });
  });
  after(() => database.drop());

  it('exports the request, its queries and the model call as one trace, stamps its id on the log lines, and flushes on SIGTERM', async () => {
    const receiver = await startReceiver();
    try {
      const service = await startService({
        ...dbEnv,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        // Longer than the test: every span must arrive through the flush at shutdown.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      });
      const { email, password, conversationId } = await signupAndChat(service.baseUrl);
      assert.equal(receiver.spans.length, 0, 'spans are batched, not sent one by one');

      const { code, logs, probe } = await stop(service);
      assert.equal(code, 0, service.output());
      assert.ok(
        probe.loaded.some((p) => p.includes('@opentelemetry/sdk-node')),
        'the probe sees the SDK when it is loaded',
      );
      assert.notEqual(probe.provider, 'NoopTracerProvider');

      const spans = receiver.spans;
      const server = spans.filter((s) => s.kind === SPAN_KIND_SERVER);
      const signup = server.find((s) => s.attributes['http.route'] === '/v1/auth/signup');
      assert.ok(signup, `no server span for the signup route among: ${server.map((s) => s.name).join(', ')}`);
      assert.equal(signup.name, 'POST /v1/auth/signup');
      assert.equal(signup.resource['service.name'], 'rampart');
      assert.match(String(signup.resource['service.version']), /^\d+\.\d+\.\d+/);

      // Route templates only, never raw paths with ids, in span names.
      const message = server.find((s) => s.attributes['http.route'] === '/v1/conversations/:id/messages');
      assert.ok(message, 'a server span for the message route');
      assert.equal(message.name, 'POST /v1/conversations/:id/messages');
      assert.ok(
        spans.every((s) => !s.name.includes(conversationId)),
        'no span is named after a raw path',
      );

      if (database.kind === 'postgres') {
        const queries = spans.filter(
          (s) => (s.attributes['db.system.name'] ?? s.attributes['db.system']) === 'postgresql' && s.traceId === signup.traceId,
        );
        assert.ok(queries.length > 0, 'the signup queries are spans of the signup trace');
      }
      if (dbEnv.REDIS_URL) {
        const redis = spans.filter((s) => (s.attributes['db.system.name'] ?? s.attributes['db.system']) === 'redis');
        assert.ok(
          redis.some((s) => s.traceId === signup.traceId),
          'the rate-limit calls are spans of the signup trace',
        );
      }

      const model = spans.find((s) => s.name === 'model.stream');
      assert.ok(model, 'a model.stream span');
      assert.equal(model.scope, 'rampart');
      assert.equal(model.traceId, message.traceId);
      assert.deepEqual([model.attributes['model.provider'], model.attributes['model.outcome']], ['builtin', 'ok']);

      const exported = JSON.stringify(spans);
      assert.ok(!exported.includes(password) && !exported.includes(email), 'no credentials in span attributes');

      const signupLine = logs.find((l) => l.msg === 'request' && l.route === '/v1/auth/signup');
      assert.ok(signupLine, 'the access-log line of the signup');
      assert.equal(signupLine.trace_id, signup.traceId);
      assert.ok(
        spans.some((s) => s.spanId === signupLine.span_id && s.traceId === signup.traceId),
        'span_id names a span of that trace',
      );
      const startLine = logs.find((l) => l.msg === 'rampart starting');
      assert.equal(startLine?.trace_id, undefined, 'no trace fields outside a span');
    } finally {
      await receiver.close();
    }
  });

  it('exits 0 within the flush bound when the collector accepts connections but never answers', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer(() => undefined); // never responds
    blackHole.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blackHole.address() as AddressInfo;
      const service = await startService({
        ...dbEnv,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      });
      assert.equal((await fetch(`${service.baseUrl}/version`)).status, 200); // one traced request, so there is a batch to flush
      const started = performance.now();
      const { code } = await stop(service);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(code, 0, service.output());
      // The exporter's own timeout is 10 s; platform/tracing.ts bounds the flush at 3 s.
      assert.ok(seconds < 6, `stopping took ${seconds.toFixed(1)} s`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });

  it('loads none of the SDK and registers no tracer provider when OTEL_EXPORTER_OTLP_ENDPOINT is unset', async () => {
    const service = await startService(dbEnv);
    await signupAndChat(service.baseUrl);
    const { code, logs, probe } = await stop(service);
    assert.equal(code, 0, service.output());
    assert.deepEqual(probe.loaded, [], 'no OpenTelemetry SDK, exporter, instrumentation or module hook was loaded');
    assert.equal(probe.provider, 'NoopTracerProvider');
    assert.ok(logs.some((l) => l.msg === 'request' && l.route === '/v1/auth/signup'));
    assert.ok(
      logs.every((l) => l.trace_id === undefined && l.span_id === undefined),
      'no trace fields on any line',
    );
  });
});
