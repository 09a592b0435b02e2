/**
 * Dashboards as code (issue 25), against a live Prometheus: Debian's `prometheus` (installed by
 * .ci/run) is started here on a free port with a temporary storage directory and a generated config,
 * loads alerts/rampart.rules.yaml (so the recording rules the alerts read exist), and scrapes every
 * second:
 *  - job="rampart": the real service (startTestApp, listening, with its metrics registry served on a
 *    port of its own as the metrics listener does), after a little traffic: signups, a login, wrong
 *    passwords up to the lockout and the login rate limit (429), a wrong TOTP code, /v1/me, a
 *    conversation and messages (one model call fails, one is refused for a spent budget: 429), a
 *    route that throws (500), password-reset mails through a test SMTP relay (one sent, one refused
 *    and dead-lettered), a JWT keyring re-read every second that fails every other time;
 *  - job="pushgateway" (honor_labels): a static exposition of what the service does not expose — the
 *    texts `secops backup drill --pushgateway` and `secops pitr status|drill --pushgateway` push
 *    (built by the CLI's own functions), and kube-state-metrics' kube_pod_status_ready.
 * Then every panel query of every dashboard and every alert expression goes through /api/v1/query:
 * each must parse (status success) and return series.
 *
 * The rules, mechanical (docs/slo.md, "How the dashboards are tested"):
 *  - panel queries: Grafana's $__rate_interval becomes 1m; nothing else is changed;
 *  - alert expressions are first evaluated whole (they must parse; most are empty when nothing is
 *    wrong, which is the point of an alert), then split at their top-level `and` / `or` / `unless`
 *    into operands; from each, an `absent(...)` wrapper and a top-level comparison (`> x`, `== 0`, …)
 *    are taken off, and `offset` modifiers dropped (a Prometheus started seconds ago has no data from
 *    an hour ago): every such signal, and the comparison's other side, must return series;
 *  - UNDRIVEN lists the signals this traffic cannot produce without a fault the test cannot cause
 *    in process, each with why; they must still parse, their metric must be declared in the
 *    service's exposition, and the list must be exactly the set of empty signals (no silent growth).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { generate } from 'otplib';
import { parse } from 'yaml';
import { drillMetricsText as backupDrillText } from '../../cli/src/lib/backup/pushgateway.js';
import { archiveMetricsText, drillMetricsText as pitrDrillText } from '../../cli/src/lib/pitr/pushgateway.js';
import type { ChatTurn, ModelProvider } from '../../service/src/components/chat/index.js';
import { type Keyring, keyringFromSecret } from '../../service/src/components/auth/keyring.js';
import { createBuiltinModel } from '../../service/src/components/chat/models/builtin.js';
import { buildDashboards, panelQueries } from '../../scripts/dashboards.js';
import { startTestApp, TEST_JWT_SECRET } from '../helpers/app.js';
import { stopChild, waitFor } from '../helpers/wait.js';
import { skipUnlessRealPostgres } from '../helpers/services.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { TEST_PASSWORD } from '../helpers/users.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NEEDS_POSTGRES = await skipUnlessRealPostgres();
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? 'prometheus';
const prometheusInstalled = spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Signals (after the rule above) the traffic cannot produce, by the metric they read (directly or
 * through a recording rule). Each is a labelled metric, whose series appears only once set.
 */
const UNDRIVEN: Record<string, string> = {
  process_faults_total:
    'counts uncaught exceptions and unhandled rejections; the fault hook then stops the process (tested in test/service/platform/fault-hook.test.ts)',
};
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
const rules = (
  parse(readFileSync(join(ROOT, 'alerts/rampart.rules.yaml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');

// ---- the mechanical rule -----------------------------------------------------------------------

/** Splits `expr` at top-level (paren depth 0, outside strings) occurrences of `re` (global, sticky-free). */
function splitTopLevel(expr: string, re: RegExp): { parts: string[]; ops: string[] } {
  const parts: string[] = [];
  const ops: string[] = [];
  let depth = 0;
  let start = 0;
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0) {
      const m = new RegExp(re.source, 'y');
      m.lastIndex = i;
      const found = m.exec(expr);
      if (found && (i === 0 || /[\s)]/.test(expr[i - 1] as string) || !/^[a-z]/.test(found[0]))) {
        parts.push(expr.slice(start, i));
        ops.push(found[0]);
        i += found[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(expr.slice(start));
  return { parts: parts.map((p) => p.trim()), ops };
}

/** Takes off parentheses that enclose the whole expression. */
function unwrap(expr: string): string {
  let e = expr.trim();
  while (e.startsWith('(') && e.endsWith(')')) {
    let depth = 0;
    let closesAtEnd = false;
    for (let i = 0; i < e.length; i++) {
      if (e[i] === '(') depth++;
      else if (e[i] === ')' && --depth === 0) {
        closesAtEnd = i === e.length - 1;
        break;
      }
    }
    if (!closesAtEnd) return e;
    e = e.slice(1, -1).trim();
  }
  return e;
}

/** The signals of an alert expression: what must return series (see the header). */
export function alertSignals(expr: string): string[] {
  const e = unwrap(expr.replace(/\s+offset\s+\d+[smhdwy]/g, ''));
  const setOps = splitTopLevel(e, /\b(and|or|unless)\b(\s+(on|ignoring)\s*\([^)]*\))?/);
  if (setOps.parts.length > 1) return setOps.parts.flatMap(alertSignals);
  const absent = /^absent\((.*)\)$/s.exec(e);
  if (absent) return alertSignals(absent[1] as string);
  const cmp = splitTopLevel(e, /(==|!=|>=|<=|>|<)(\s*bool\b)?/);
  if (cmp.parts.length > 1) return cmp.parts.flatMap((p) => alertSignals(p));
  return [e];
}

// ---- plumbing ----------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function serve(handler: (path: string) => Promise<string | undefined>): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    handler(req.url ?? '/').then(
      (body) => {
        if (body === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: unknown };
}

async function query(base: string, expr: string): Promise<QueryResult> {
  const res = await fetch(`${base}/api/v1/query`, {
    method: 'POST',
    body: new URLSearchParams({ query: expr }),
    signal: AbortSignal.timeout(10_000),
  });
  return (await res.json()) as QueryResult;
}
const hasSeries = (r: QueryResult) =>
  r.status === 'success' && (r.data?.resultType === 'scalar' || (Array.isArray(r.data?.result) && r.data.result.length > 0));

/** The static exposition of what secops pushes and kube-state-metrics exports (see the header). */
function pushedMetrics(): string {
  const now = new Date();
  const iso = (msAgo: number) => new Date(now.getTime() - msAgo).toISOString();
  const withJob = (text: string, job: string) =>
    text.replace(/^(rampart_\w+) /gm, (_m, name: string) => `${name}{job="${job}",instance=""} `);
  return [
    withJob(
      backupDrillText({ ok: true, finishedAt: iso(3_600_000), rtoSeconds: 42, rpoSeconds: 3_600, latestSequence: 17 }),
      'rampart_backup_drill',
    ),
    withJob(
      archiveMetricsText({
        sampledAt: now.toISOString(),
        lastArchivedAt: iso(30_000),
        lag: { lagSeconds: 0, unarchivedBytes: 0, failing: false } as never,
        window: { seconds: 3 * 86_400, from: iso(3 * 86_400_000), to: iso(30_000) } as never,
      }),
      'rampart_pitr_status',
    ),
    withJob(
      pitrDrillText({
        ok: true,
        finishedAt: iso(86_400_000),
        durationSeconds: 300,
        rtoSeconds: 120,
        rpoSeconds: 5,
        archiveLag: { unarchivedBytes: 0 },
        window: { seconds: 2 * 86_400, to: iso(86_400_000) },
      }),
      'rampart_pitr_drill',
    ),
    '# HELP kube_pod_status_ready Describes whether the pod is ready to serve requests.',
    '# TYPE kube_pod_status_ready gauge',
    'kube_pod_status_ready{job="kube-state-metrics",namespace="rampart",pod="rampart-api-0",condition="true"} 1',
    'kube_pod_status_ready{job="kube-state-metrics",namespace="rampart",pod="rampart-api-0",condition="false"} 0',
    '',
  ].join('\n');
}

/** Fails the first model call (an upstream error), then answers as the builtin model does. */
function flakyModel(): ModelProvider {
  const builtin = createBuiltinModel();
  let calls = 0;
  return {
    name: 'builtin',
    stream(turns: readonly ChatTurn[], signal: AbortSignal) {
      if (++calls === 1) {
        // biome-ignore lint/correctness/useYield: fails before its first fragment, as an upstream error does
        return (async function* () {
          throw new Error('upstream answered 502');
        })();
      }
      return builtin.stream(turns, signal);
    },
  };
}

/** The test's JWT secret as a keyring source that fails every other read. */
function flakyKeyringSource(): () => Promise<Keyring> {
  let reads = 0;
  return async () => {
    if (++reads % 2 === 0) throw new Error('the keyring file cannot be read');
    return keyringFromSecret(Buffer.from(TEST_JWT_SECRET, 'base64url'));
  };
}

// ---- the test ----------------------------------------------------------------------------------

describe('dashboards and alerts against a live Prometheus', { skip: NEEDS_POSTGRES }, () => {
  it('every panel query and every alert expression parses and returns series', { timeout: 180_000 }, async (t) => {
    if (!prometheusInstalled) {
      if (process.env.CI)
        assert.fail('prometheus is not installed, and CI is set (.ci/run installs Debian’s prometheus package)');
      t.skip('prometheus is not installed');
      return;
    }
    const smtp = await startSmtpServer();
    t.after(() => smtp.close());
    const fault = new Router();
    fault.get('/v1/dashboards-test/fault', () => {
      throw new Error('a fault for the 5xx series');
    });
    const app = await startTestApp({
      listen: true,
      defaultMetrics: true,
      extraRouters: [fault],
      model: flakyModel(),
      // A re-readable keyring (as JWT_KEYS_FILE/_REF give), re-read every second, failing every other
      // time: jwt_keyring_keys and reloads of both outcomes.
      keyringSource: flakyKeyringSource(),
      env: {
        LOGIN_MAX_FAILURES: '2',
        RATE_LIMIT_LOGIN_PER_MINUTE: '7',
        MODEL_TOKENS_PER_DAY: '300',
        MODEL_MAX_OUTPUT_TOKENS: '40',
        JWT_KEYS_RELOAD_INTERVAL_SECONDS: '1',
        MAIL_URL: smtp.mailUrl,
        MAIL_CA_FILE: smtp.caFile,
        MAIL_MAX_ATTEMPTS: '1',
      },
    });
    t.after(() => app.close());
    const registry = app.deps.metrics.registry;
    const exporter = await serve(async (path) => {
      if (path === '/metrics') return registry.metrics();
      if (path === '/pushgateway') return pushedMetrics();
      return undefined;
    });
    t.after(() => new Promise<void>((resolve) => exporter.server.close(() => resolve())));

    // ---- traffic
    const api = async (method: string, path: string, json?: unknown, token?: string) => {
      const res = await fetch(`${app.baseUrl}${path}`, {
        method,
        headers: {
          ...(json ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: json ? JSON.stringify(json) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
    };
    const statuses = new Set<number>();
    const traffic = async () => {
      const emails = [1, 2, 3].map((i) => `dash-${i}-${process.pid}-${Date.now()}@example.com`);
      const tokens: string[] = [];
      for (const email of emails) {
        const signup = await api('POST', '/v1/auth/signup', { email, password: TEST_PASSWORD });
        statuses.add(signup.status);
        tokens.push(signup.body.access_token);
      }
      statuses.add((await api('POST', '/v1/auth/login', { email: emails[0], password: TEST_PASSWORD })).status);
      // A second factor: the third account enrols TOTP, then signs in and sends a wrong code.
      const enrol = await api('POST', '/v1/auth/mfa/totp', undefined, tokens[2]);
      const secret = enrol.body.secret as string;
      const confirmed = await api('POST', '/v1/auth/mfa/totp/confirm', { code: await generate({ secret }) }, tokens[2]);
      assert.equal(confirmed.status, 200, `TOTP confirmed (${enrol.status}, ${confirmed.status})`);
      const mfaLogin = await api('POST', '/v1/auth/login', { email: emails[2], password: TEST_PASSWORD });
      const right = await generate({ secret });
      const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
      statuses.add((await api('POST', '/v1/auth/mfa/verify', { mfa_token: mfaLogin.body.mfa_token, code: wrong })).status);
      // Wrong passwords: 401 twice, then locked out (429, LOGIN_MAX_FAILURES 2), then refused by the
      // login rate limiter (429, RATE_LIMIT_LOGIN_PER_MINUTE 7).
      for (let i = 0; i < 8; i++)
        statuses.add((await api('POST', '/v1/auth/login', { email: emails[1], password: 'wrong password 123' })).status);
      statuses.add((await api('GET', '/v1/me', undefined, tokens[0])).status);
      const conversation = await api('POST', '/v1/conversations', { title: 'dashboards' }, tokens[0]);
      statuses.add(conversation.status);
      // The first model call fails upstream (flakyModel); the next ones are answered until the day's
      // budget (MODEL_TOKENS_PER_DAY 300, 40 output tokens reserved per call) refuses one: 429.
      const answers: number[] = [];
      for (let i = 0; i < 15 && !answers.includes(429); i++) {
        answers.push(
          (await api('POST', `/v1/conversations/${conversation.body.id}/messages`, { content: `hello ${i}` }, tokens[0])).status,
        );
      }
      assert.ok(answers.includes(201) && answers.includes(429), `messages answered ${answers.join(', ')}`);
      statuses.add((await api('GET', '/v1/dashboards-test/fault')).status);
      // The outbox sender is driven by the test (as the mail tests do): one mail sent, one refused for good.
      const deliver = async () => {
        await app.deps.auth.settled();
        await app.deps.mail.sender.deliverDue();
      };
      statuses.add((await api('POST', '/v1/auth/password-reset', { email: emails[0] })).status);
      await deliver();
      await smtp.until('the reset mail', () => smtp.messages.length >= 1, 10_000);
      smtp.refuse(550);
      statuses.add((await api('POST', '/v1/auth/password-reset', { email: emails[1] })).status);
      await deliver();
    };

    // ---- Prometheus
    const dir = mkdtempSync(join(tmpdir(), 'rampart-prometheus-'));
    const port = await freePort();
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [join(ROOT, 'alerts/rampart.rules.yaml')],
      scrape_configs: [
        { job_name: 'rampart', static_configs: [{ targets: [`127.0.0.1:${exporter.port}`] }] },
        {
          job_name: 'pushgateway',
          honor_labels: true,
          metrics_path: '/pushgateway',
          static_configs: [{ targets: [`127.0.0.1:${exporter.port}`] }],
        },
      ],
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
    let log = '';
    const prometheus: ChildProcess = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (d) => (log += d));
    prometheus.stderr?.on('data', (d) => (log += d));
    // One cleanup, in order: stop Prometheus (SIGTERM, SIGKILL after 10 s), then remove its storage.
    t.after(async () => {
      await stopChild(prometheus, 10_000);
      rmSync(dir, { recursive: true, force: true });
    });
    const base = `http://127.0.0.1:${port}`;
    // Prometheus is another process: poll it (bounded), never a clock of ours.
    await waitFor(
      'prometheus ready',
      async () => {
        assert.equal(prometheus.exitCode, null, `prometheus exited: ${log.slice(-2000)}`);
        return fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
      },
      30_000,
      200,
    ).catch((err: Error) => assert.fail(`${err.message}: ${log.slice(-2000)}`));

    await traffic();
    for (const s of [201, 401, 429, 500, 202])
      assert.ok(statuses.has(s), `the traffic produced a ${s} (got ${[...statuses].join(', ')})`);

    // ---- evaluate, retrying (bounded) while scrapes and rule evaluations catch up
    const panels = buildDashboards().flatMap(({ file, dashboard }) =>
      panelQueries(dashboard).map((q) => ({ what: `${file} / ${q.panel}`, expr: q.expr.replaceAll('$__rate_interval', '1m') })),
    );
    const signals = alerts.flatMap((a) => alertSignals(a.expr).map((expr) => ({ what: `${a.alert} signal`, expr })));
    // An expression reads a metric directly or through the recording rules it names.
    const recorded = new Map(rules.filter((r) => r.record).map((r) => [r.record as string, r.expr]));
    const reads = (expr: string): string =>
      [
        expr,
        ...[...recorded]
          .filter(([name]) => new RegExp(`(^|[^\\w:])${name.replaceAll(':', '\\:')}($|[^\\w:])`).test(expr))
          .map(([, e]) => reads(e)),
      ].join('\n');
    const undriven = (expr: string) => Object.keys(UNDRIVEN).find((m) => reads(expr).includes(m));
    let failures: string[] = [];
    const evaluate = async (): Promise<string[]> => {
      const found: string[] = [];
      const up = await query(base, 'count_over_time(up{job="rampart"}[1m]) >= 3');
      if (!hasSeries(up)) return ['fewer than 3 scrapes of job="rampart" so far'];
      for (const a of alerts) {
        const r = await query(base, a.expr);
        if (r.status !== 'success') found.push(`${a.alert}: ${r.error}`);
      }
      for (const p of [...panels, ...signals]) {
        const r = await query(base, p.expr);
        if (r.status !== 'success') found.push(`${p.what}: does not parse: ${r.error}\n    ${p.expr}`);
        else if (!hasSeries(r) && !undriven(p.expr)) found.push(`${p.what}: no series\n    ${p.expr}`);
        else if (hasSeries(r) && undriven(p.expr))
          found.push(`${p.what}: returns series, so drop ${undriven(p.expr)} from UNDRIVEN\n    ${p.expr}`);
      }
      return found;
    };
    // Retried (bounded, 60 s) while Prometheus's own scrapes and rule evaluations catch up; on a
    // timeout the last round's failures are what the assertion shows.
    const allAnswer = async () => {
      failures = await evaluate();
      return failures.length === 0;
    };
    await waitFor('every query and alert to return series', allAnswer, 60_000, 1000).catch(() => undefined);
    assert.deepEqual(failures, []);

    // The undriven metrics are declared by the service all the same (prom-client writes HELP and TYPE).
    const exposition = await registry.metrics();
    for (const metric of Object.keys(UNDRIVEN)) assert.match(exposition, new RegExp(`^# TYPE ${metric} (counter|gauge)$`, 'm'));
    assert.ok(panels.length >= 40, `${panels.length} panel queries`);
    t.diagnostic(`${panels.length} panel queries, ${alerts.length} alert expressions (${signals.length} signals) evaluated`);
  });

  it('the signal rule takes off set operators, comparisons, absent() and offsets', () => {
    assert.deepEqual(alertSignals('absent(up{job="rampart"} == 1)'), ['up{job="rampart"}', '1']);
    assert.deepEqual(alertSignals('(\n  a > (14.4 * 0.001)\n  and b > 1\n)\nor\n(c unless on (job) d{x="a and b"} > 0)'), [
      'a',
      '14.4 * 0.001',
      'b',
      '1',
      'c',
      'd{x="a and b"}',
      '0',
    ]);
    assert.deepEqual(alertSignals('max(x) - max(max_over_time(x[10m] offset 1h)) > 0'), [
      'max(x) - max(max_over_time(x[10m]))',
      '0',
    ]);
  });
});
