import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMetricsServer } from '../../../service/src/platform/http/metrics-server.js';
import { listen } from '../../../service/src/platform/http/server.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { api } from '../../helpers/client.js';
import { streamMessage } from '../../helpers/sse.js';
import { TEST_PASSWORD } from '../../helpers/users.js';

function promtoolAvailable(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}

describe('metrics endpoint after a scripted run', () => {
  // Listens: the scripted run streams a reply as text/event-stream, which needs a socket.
  let t: TestApp;
  let metricsServer: Server;
  let scrape: string;
  before(async () => {
    t = await startTestApp({ listen: true, defaultMetrics: true, env: { BUILTIN_MODEL_DELAY_MS: '0', RATE_LIMIT_REFRESH_PER_MINUTE: '2' } });
    metricsServer = createMetricsServer(t.deps.metrics.registry);
    const { port } = await listen(metricsServer, 0, '127.0.0.1');

    const signup = await api(t.baseUrl, 'POST', '/v1/auth/signup', { json: { email: 'metrics@example.com', password: TEST_PASSWORD } });
    const token = signup.body.access_token;
    await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'metrics@example.com', password: 'wrong password here' } });
    await api(t.baseUrl, 'POST', '/v1/auth/login', { json: { email: 'metrics@example.com', password: TEST_PASSWORD } });
    for (let i = 0; i < 3; i++) await api(t.baseUrl, 'POST', '/v1/auth/refresh', { json: { refresh_token: 'C'.repeat(43) } });
    await api(t.baseUrl, 'GET', '/v1/me', { token });
    const conv = await api(t.baseUrl, 'POST', '/v1/conversations', { token, json: { title: 'metrics' } });
    for (const id of [conv.body.id, conv.body.id]) await api(t.baseUrl, 'GET', `/v1/conversations/${id}`, { token });
    await api(t.baseUrl, 'POST', `/v1/conversations/${conv.body.id}/messages`, { token, json: { content: 'hello' } });
    await streamMessage(t.baseUrl, conv.body.id, { token, content: 'stream please' });
    await api(t.baseUrl, 'GET', '/no/such/path/12345');

    // Audit rows are written behind the requests: let that batch land before reading the pool.
    await t.deps.audit.log.flush();
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    scrape = await res.text();
  });
  after(async () => {
    await new Promise((r) => metricsServer.close(r));
    await t.close();
  });

  it('counts requests by method, route template and status — never by raw path', () => {
    assert.equal(sample(scrape, 'http_requests_total{method="POST",route="/v1/auth/signup",status="201"}'), 1);
    assert.equal(sample(scrape, 'http_requests_total{method="GET",route="/v1/conversations/:id",status="200"}'), 2);
    assert.equal(sample(scrape, 'http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
    assert.doesNotMatch(scrape, /route="[^"]*[0-9a-f]{8}-[0-9a-f]{4}/, 'no ids in labels');
    assert.doesNotMatch(scrape, /12345/);
  });

  it('has latency buckets on the SLO edges', () => {
    assert.ok(sample(scrape, 'http_request_duration_seconds_bucket{le="0.3",method="GET",route="/v1/me",status="200"}') === 1);
    assert.ok(sample(scrape, 'http_request_duration_seconds_bucket{le="0.1",method="GET",route="/v1/me",status="200"}') !== undefined);
  });

  it('reports auth, rate-limit, model and stream metrics', () => {
    assert.equal(sample(scrape, 'auth_success_total{flow="signup"}'), 1);
    assert.equal(sample(scrape, 'auth_success_total{flow="login"}'), 1);
    assert.equal(sample(scrape, 'auth_fail_total{flow="login",reason="invalid_credentials"}'), 1);
    assert.equal(sample(scrape, 'rate_limit_dropped_total{limiter="refresh",route="/v1/auth/refresh"}'), 1);
    assert.equal(sample(scrape, 'external_model_latency_seconds_count{provider="builtin",outcome="ok",phase="total"}'), 2);
    assert.equal(sample(scrape, 'external_model_latency_seconds_count{provider="builtin",outcome="ok",phase="first_token"}'), 2);
    assert.equal(sample(scrape, 'sse_streams_active'), 0);
  });

  it('reads the database pool at scrape time: nothing left checked out', () => {
    assert.equal(sample(scrape, 'db_pool_in_use'), 0);
    assert.equal(sample(scrape, 'db_pool_waiting'), 0);
    assert.ok((sample(scrape, 'db_pool_max') ?? 0) >= 1);
    assert.ok(sample(scrape, 'db_pool_idle') !== undefined);
  });

  it('exposes build info, the fault counter and the process metrics', () => {
    assert.match(scrape, /^build_info\{version="[^"]+",git_sha="[^"]+"\} 1$/m);
    assert.match(scrape, /^# TYPE process_faults_total counter$/m);
    assert.ok((sample(scrape, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.match(scrape, /^nodejs_eventloop_lag_p99_seconds /m);
  });

  it('passes promtool check metrics', (tctx) => {
    if (!promtoolAvailable()) {
      // CI installs Debian's prometheus package (.ci/run), so there this check always runs.
      if (process.env.CI) assert.fail('promtool is required in CI');
      tctx.skip('promtool is not installed');
      return;
    }
    const file = join(mkdtempSync(join(tmpdir(), 'rampart-metrics-')), 'scrape.txt');
    writeFileSync(file, scrape);
    const r = spawnSync('sh', ['-c', `promtool check metrics < '${file}'`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
});
