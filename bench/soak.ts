/**
 * npm run soak [-- --duration 2m] — a bounded soak of the real service, looking for leaks (issue 12).
 *
 * Method. The service runs as a child process (NODE_ENV=production) against a throwaway database on
 * the real PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL / DATABASE_URL, else the local one) and
 * the real Redis (BENCH_REDIS_URL / TEST_REDIS_URL / REDIS_URL, else the local one, under a key prefix
 * of its own), rate limits out of reach, the builtin model paced at SOAK_MODEL_DELAY_MS (default 2) per
 * word, its V8 old space capped at SOAK_MAX_OLD_SPACE_MB (default 256, as in the 512 MiB pod).
 * SOAK_CLIENTS (default 24) closed-loop clients run a mixed workload for `--duration` (default 2m;
 * `30s`, `90s`, `5m` …): each signs up, then cycles through create conversation, post a message
 * (JSON; every fourth one streamed over SSE, every tenth stream abandoned mid-reply), list
 * conversations, list messages, GET /v1/me, GET /v1/usage, refresh, delete a conversation, a 404 and
 * a malformed body, and every 25th turn a login (Argon2id at the production cost).
 * The paths of issue 21 (docs/api.md "Model usage, budgets and reliable delivery"), checked as it goes
 * (bench/lib/soak-checks.ts):
 * - every fifth JSON message carries an Idempotency-Key and is at once retried with the same key and
 *   body: the retry must be the same status and, for a 201, a replay (Idempotency-Replayed: true) of
 *   the same reply — no second model call ("idempotency-mismatch" otherwise);
 * - every abandoned stream (cut after ~200 bytes and at least one whole event) is resumed with
 *   GET …/messages/{reply_id}/events and Last-Event-ID = the last whole event's id: the deltas before
 *   the drop and after the resume must carry seq 1…n each exactly once, the resume end with `done`
 *   n + 1, and the stored reply's content equal their text joined ("resume-lost" otherwise; the
 *   drop aborts the model call, so these replies end `partial`);
 * - GET /v1/usage answers 200 and its day.used never goes down (but across the day's reset), and is
 *   above 0 at the end for every user who got a reply ("usage-regressed");
 * - token budgets are on (MODEL_TOKENS_PER_DAY = SOAK_TOKENS_PER_DAY, default 100 000 000: out of
 *   reach), and one more, frugal, client has a day budget of its own of 1 500 tokens, written to
 *   model_budgets as `secops users budget` would: it must get 429 budget_exhausted with Retry-After
 *   once that is spent, and never spend past it; nobody else is ever refused ("budget-refused",
 *   "budget-overrun"). Its requests count under `frugal …` in by_outcome.
 * Every SOAK_SAMPLE_MS (default 2000) the service's /metrics is scraped: RSS
 * (process_resident_memory_bytes), V8 heap used (nodejs_heap_size_used_bytes), event-loop delay p99
 * over the interval (nodejs_eventloop_lag_p99_seconds), active handles (nodejs_active_handles, summed over handle types)
 * and the database pool (db_pool_in_use / idle / waiting).
 *
 * Must hold (exit 1 otherwise): none of the failures above (and at least one resume, one replay and
 * one refusal of the frugal client); no 5xx and no network error; over the second half of the run (the
 * first half is warm-up: JIT, pool and V8 heap reaching their working size) the least-squares trend
 * of RSS may not rise by more than max(16 MiB, 8 % of its mean) across that half, nor the trend of
 * active handles by more than max(10, 10 % of its mean); the pool has no waiters at the end. Those
 * margins are the noise seen between runs of an idle-to-busy service on this machine (GC sawtooth of
 * a few MiB, handles moving with in-flight requests); a leak of a request's worth of memory or a
 * socket per request clears them within a minute at this rate.
 * Prints a table and writes bench/results/soak.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchDatabase, benchRedis, LOCAL_POSTGRES, NO_RATE_LIMITS, startService } from './lib/service.js';
import { type DayUsage, idempotencyMismatch, resumeLost, usageRegressed } from './lib/soak-checks.js';
import { readSseEvents, type SseEvent } from './lib/sse-client.js';
import { fmt, table } from './lib/stats.js';
import { envInt } from './lib/env.js';

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`--duration: "${text}" is not a duration (e.g. 30s, 2m)`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}


const args = process.argv.slice(2);
const durationArg = args.indexOf('--duration');
const DURATION_MS = parseDuration(durationArg >= 0 ? (args[durationArg + 1] ?? '') : '2m');
const CLIENTS = envInt('SOAK_CLIENTS', 24);
const SAMPLE_MS = envInt('SOAK_SAMPLE_MS', 2000);
const MODEL_DELAY_MS = envInt('SOAK_MODEL_DELAY_MS', 2);
/**
 * The service's V8 old-space cap (MiB). Uncapped on a large machine, V8 lets the heap grow in steps
 * for minutes before it settles, which reads as an RSS trend; the production pod (512 MiB limit,
 * k8s/base/deployment.yaml) caps it anyway. A real leak then shows as a rising trend, 5xx or a crash.
 */
const MAX_OLD_SPACE_MB = envInt('SOAK_MAX_OLD_SPACE_MB', 256);
const PASSWORD = 'soak test password 42 long';
/**
 * Budgets stay on (every call reserves and settles) but out of the clients' reach, however long the
 * soak: a call reserves its prompt plus MODEL_MAX_OUTPUT_TOKENS (1024) and settles to far less (the
 * result's `reliable_delivery.max_day_used` is what the busiest client spent); the default 200 000 a
 * day would in the end refuse a long run.
 */
const TOKENS_PER_DAY = envInt('SOAK_TOKENS_PER_DAY', 100_000_000);
/** The frugal user's own day budget: a few calls' reservations (prompt + MODEL_MAX_OUTPUT_TOKENS 1024). */
const FRUGAL_TOKENS_PER_DAY = 1500;

interface Sample {
  t: number;
  rssMiB: number;
  heapUsedMiB: number;
  loopP99Ms: number;
  handles: number;
  poolInUse: number;
  poolIdle: number;
  poolWaiting: number;
  requests: number;
}

/** Sum over every series of `name` (e.g. nodejs_active_handles, one series per handle type). */
function metricSum(text: string, name: string): number {
  let sum = 0;
  let found = false;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm'))) {
    sum += Number(m[1]);
    found = true;
  }
  return found ? sum : Number.NaN;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+|NaN)`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main() {
  // startService passes BENCH_NODE_ARGS to the service's node.
  process.env.BENCH_NODE_ARGS = [process.env.BENCH_NODE_ARGS, `--max-old-space-size=${MAX_OLD_SPACE_MB}`].filter(Boolean).join(' ');
  const db = await benchDatabase({ fallbackUrl: LOCAL_POSTGRES });
  const redis = benchRedis();
  const service = await startService({
    ...db.env,
    ...redis.env,
    ...NO_RATE_LIMITS,
    ABUSE_BLOCK_AFTER_REJECTIONS: '100000000',
    BUILTIN_MODEL_DELAY_MS: String(MODEL_DELAY_MS),
    MAX_STREAMS_PER_USER: '50',
    MODEL_TOKENS_PER_DAY: String(TOKENS_PER_DAY),
    MODEL_TOKENS_PER_MONTH: String(TOKENS_PER_DAY * 31),
    LOG_LEVEL: 'info',
  });
  const listening = service
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"listening"'));
  const metricsUrl = `http://127.0.0.1:${JSON.parse(listening ?? '{}').metrics_port}/metrics`;
  const base = service.baseUrl;

  const outcomes = new Map<string, number>();
  let requests = 0;
  let serverErrors = 0;
  let networkErrors = 0;
  const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

  interface CallInit {
    token?: string;
    json?: unknown;
    raw?: string;
    accept?: string;
    idempotencyKey?: string;
    lastEventId?: string;
    /** Read the answer as text/event-stream: its complete events are returned. */
    sse?: boolean;
    /** With `sse`: walk away once this many bytes and one whole event arrived. */
    abortAfterBytes?: number;
  }
  interface CallResult {
    status: number;
    body: any;
    headers?: Headers;
    events?: SseEvent[];
  }

  async function call(op: string, method: string, path: string, init: CallInit = {}): Promise<CallResult> {
    const headers: Record<string, string> = {};
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.json !== undefined || init.raw !== undefined) headers['content-type'] = 'application/json';
    if (init.accept) headers.accept = init.accept;
    if (init.idempotencyKey) headers['idempotency-key'] = init.idempotencyKey;
    if (init.lastEventId) headers['last-event-id'] = init.lastEventId;
    const controller = new AbortController();
    requests++;
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: init.raw ?? (init.json === undefined ? undefined : JSON.stringify(init.json)),
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]),
      });
      note(`${op} ${res.status}`);
      if (res.status >= 500) serverErrors++;
      if (init.sse && res.body && /event-stream/.test(res.headers.get('content-type') ?? '')) {
        // abortAfterBytes: a client that walks away mid-stream; the service must abort the model call,
        // free the slot and keep what was said for a resume.
        const { events, cut } = await readSseEvents(res.body, { stopAfterBytes: init.abortAfterBytes });
        if (cut) controller.abort();
        return { status: res.status, body: undefined, headers: res.headers, events };
      }
      const text = await res.text();
      return { status: res.status, body: /json/.test(res.headers.get('content-type') ?? '') && text ? JSON.parse(text) : undefined, headers: res.headers };
    } catch (err) {
      if (controller.signal.aborted) return { status: 0, body: undefined };
      networkErrors++;
      note(`${op} ${(err as Error).name}`);
      return { status: 0, body: undefined };
    }
  }

  /** A check of issue 21's paths failed: counted under its name, printed once per name, fails the run. */
  const failures = new Map<string, number>();
  function fail(kind: string, detail: string) {
    note(kind);
    if (!failures.has(kind)) process.stderr.write(`soak: ${kind}: ${detail}\n`);
    failures.set(kind, (failures.get(kind) ?? 0) + 1);
  }

  const started = Date.now();
  const deadline = started + DURATION_MS;

  let resumes = 0;
  let deltasBeforeDrop = 0;
  let deltasAfterResume = 0;
  let replays = 0;
  let frugalRefusals = 0;
  let maxDayUsed = 0;

  /** A dropped stream, resumed from the last event the client got whole: every delta once, then done. */
  async function resumeDropped(op: string, token: string, conversationId: string, seen: SseEvent[]) {
    const replyId = seen[0]?.id?.split(':')[0] ?? '';
    const resumed = await call(op, 'GET', `/v1/conversations/${conversationId}/messages/${replyId}/events`, {
      token,
      accept: 'text/event-stream',
      lastEventId: seen.at(-1)?.id,
      sse: true,
    });
    if (resumed.status !== 200) return fail('resume-lost', `GET …/${replyId}/events answered ${resumed.status}`);
    const after = resumed.events ?? [];
    const problem = resumeLost(replyId, seen, after);
    if (problem) return fail('resume-lost', `reply ${replyId}: ${problem}`);
    resumes++;
    deltasBeforeDrop += seen.filter((e) => e.event === 'delta').length;
    deltasAfterResume += after.filter((e) => e.event === 'delta').length;
    note(`resumed reply ${after.at(-1)?.data.message.status}`);
  }

  /**
   * One user's closed loop. The frugal one (n === CLIENTS) has a per-user day budget of
   * FRUGAL_TOKENS_PER_DAY, written as `secops users budget` would: it must be refused with 429
   * budget_exhausted once that is spent, and never spend past it; nobody else is ever refused.
   */
  async function client(n: number) {
    const frugal = n === CLIENTS;
    const tag = (op: string) => (frugal ? `frugal ${op}` : op);
    const email = `soak-${n}-${started}@example.com`;
    const s = await call(tag('signup'), 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD } });
    if (s.status !== 201) return;
    let token: string = s.body.access_token;
    let refresh: string = s.body.refresh_token;
    if (frugal) {
      const me = await call(tag('me'), 'GET', '/v1/me', { token });
      await db.query(`insert into model_budgets (user_id, tokens_per_day, updated_by) values ($1, $2, 'soak')`, [me.body.id, FRUGAL_TOKENS_PER_DAY]);
    }
    const mine: string[] = [];
    let replied = false;
    let jsonPosts = 0;
    let lastDay: DayUsage | undefined;
    /** A POST …/messages answer: a reply, a budget refusal (expected for the frugal user only), or else. */
    const answered = (r: CallResult) => {
      if (r.status === 201 || r.status === 200) replied = true;
      if (r.status !== 429 || r.body?.code !== 'budget_exhausted') return;
      if (!frugal) fail('budget-refused', `a user without a budget of their own was refused: ${JSON.stringify(r.body)}`);
      else if (!/^\d+$/.test(r.headers?.get('retry-after') ?? '')) fail('budget-refused', '429 budget_exhausted without Retry-After');
      else frugalRefusals++;
    };
    const checkUsage = async () => {
      const u = await call(tag('usage'), 'GET', '/v1/usage', { token });
      if (u.status !== 200) return fail('usage-unanswered', `GET /v1/usage answered ${u.status}`);
      const problem = usageRegressed(lastDay, u.body.day);
      if (problem) fail('usage-regressed', problem);
      lastDay = u.body.day;
      return u.body;
    };
    for (let turn = 0; Date.now() < deadline; turn++) {
      const step = turn % 10;
      if (step === 0 || mine.length === 0) {
        const c = await call(tag('create'), 'POST', '/v1/conversations', { token, json: { title: `soak ${n}/${turn}` } });
        if (c.status === 201) mine.push(c.body.id);
      } else if (step === 1 || step === 5) {
        const id = mine[turn % mine.length] ?? '';
        const path = `/v1/conversations/${id}/messages`;
        if (turn % 4 === 1) {
          const abandon = turn % 40 === 1;
          const r = await call(tag(abandon ? 'stream-abandoned' : 'stream'), 'POST', path, {
            token,
            json: { content: `streamed ${turn}` },
            accept: 'text/event-stream',
            sse: abandon,
            abortAfterBytes: abandon ? 200 : undefined,
          });
          answered(r);
          if (abandon && r.events) await resumeDropped(tag('resume'), token, id, r.events);
        } else if (jsonPosts++ % 5 === 0) {
          // A client that lost the answer retries with the same key and body: the kept answer, replayed.
          const json = { content: `message ${turn} from ${n}` };
          const idempotencyKey = randomUUID();
          const first = await call(tag('post-keyed'), 'POST', path, { token, json, idempotencyKey });
          const retry = await call(tag('post-retry'), 'POST', path, { token, json, idempotencyKey });
          answered(first);
          const problem = idempotencyMismatch(first, retry);
          if (problem) fail('idempotency-mismatch', problem);
          else replays++;
        } else {
          answered(await call(tag('post'), 'POST', path, { token, json: { content: `message ${turn} from ${n}` } }));
        }
      } else if (step === 2) {
        await call(tag('list'), 'GET', '/v1/conversations?limit=20', { token });
      } else if (step === 3) {
        await call(tag('list-messages'), 'GET', `/v1/conversations/${mine[turn % mine.length]}/messages?limit=50`, { token });
      } else if (step === 4) {
        await call(tag('me'), 'GET', '/v1/me', { token });
        await checkUsage();
      } else if (step === 6) {
        const r = await call(tag('refresh'), 'POST', '/v1/auth/refresh', { json: { refresh_token: refresh } });
        if (r.status === 200) {
          token = r.body.access_token;
          refresh = r.body.refresh_token;
        }
      } else if (step === 7 && mine.length > 3) {
        await call(tag('delete'), 'DELETE', `/v1/conversations/${mine.shift()}`, { token });
      } else if (step === 8) {
        await call(tag('not-found'), 'GET', '/v1/conversations/00000000-0000-4000-8000-000000000000', { token });
      } else if (step === 9) {
        await call(tag('bad-json'), 'POST', '/v1/conversations', { token, raw: '{"title":' });
      }
      if (turn % 25 === 24) {
        const l = await call(tag('login'), 'POST', '/v1/auth/login', { json: { email, password: PASSWORD } });
        if (l.status === 200) {
          token = l.body.access_token;
          refresh = l.body.refresh_token;
        }
      }
    }
    const usage = await checkUsage();
    if (!usage) return;
    if (!frugal) maxDayUsed = Math.max(maxDayUsed, usage.day.used);
    if (replied && !(usage.day.used > 0)) fail('usage-regressed', `a user with replies has day.used ${usage.day.used}`);
    if (frugal && usage.day.limit !== FRUGAL_TOKENS_PER_DAY) fail('budget-overrun', `the frugal user's day.limit is ${usage.day.limit}`);
    if (usage.day.limit !== null && usage.day.used > usage.day.limit) fail('budget-overrun', `day.used ${usage.day.used} > limit ${usage.day.limit}`);
  }

  const samples: Sample[] = [];
  async function sample() {
    const res = await fetch(metricsUrl);
    const text = await res.text();
    samples.push({
      t: (Date.now() - started) / 1000,
      rssMiB: metric(text, 'process_resident_memory_bytes') / 2 ** 20,
      heapUsedMiB: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      loopP99Ms: metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
      handles: metricSum(text, 'nodejs_active_handles'),
      poolInUse: metric(text, 'db_pool_in_use'),
      poolIdle: metric(text, 'db_pool_idle'),
      poolWaiting: metric(text, 'db_pool_waiting'),
      requests,
    });
  }
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await sleep(SAMPLE_MS);
    }
  })();

  process.stdout.write(`soak: ${CLIENTS} clients for ${DURATION_MS / 1000} s against ${db.describe} and ${redis.describe}\n`);
  try {
    await Promise.all(Array.from({ length: CLIENTS + 1 }, (_, n) => client(n)));
    sampling = false;
    await sampler;
    await sleep(1500); // let in-flight work settle, then one last sample of the idle service
    await sample();
  } finally {
    await service.stop();
    await redis.cleanup();
    await db.drop();
  }

  const last = samples.at(-1) as Sample;
  const loaded = samples.slice(0, -1);
  const secondHalf = loaded.filter((s) => s.t >= DURATION_MS / 2000);
  const windowMin = (DURATION_MS / 2 / 60_000) || 1;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const trend = (pick: (s: Sample) => number) => slope(secondHalf.map((s) => ({ x: s.t / 60, y: pick(s) })));
  const rssSlope = trend((s) => s.rssMiB);
  const heapSlope = trend((s) => s.heapUsedMiB);
  const handleSlope = trend((s) => s.handles);
  const rssAllowed = Math.max(16, 0.08 * mean(secondHalf.map((s) => s.rssMiB)));
  const handlesAllowed = Math.max(10, 0.1 * mean(secondHalf.map((s) => s.handles)));
  const loopP99 = loaded.map((s) => s.loopP99Ms).filter(Number.isFinite);
  const first = loaded[0] as Sample;
  const end = loaded.at(-1) as Sample;
  const checks = {
    no_server_errors: serverErrors === 0,
    no_network_errors: networkErrors === 0,
    rss_no_growth_trend: rssSlope * windowMin <= rssAllowed,
    handles_no_growth_trend: handleSlope * windowMin <= handlesAllowed,
    pool_no_waiters_at_end: last.poolWaiting === 0,
    resume_nothing_lost: !failures.has('resume-lost') && resumes > 0,
    idempotent_retries_replayed: !failures.has('idempotency-mismatch') && replays > 0,
    usage_never_regressed: !failures.has('usage-regressed') && !failures.has('usage-unanswered'),
    budget_refuses_only_the_frugal_user: !failures.has('budget-refused') && !failures.has('budget-overrun') && frugalRefusals > 0,
  };

  const rows: (string | number)[][] = [
    ['RSS (MiB)', fmt(first.rssMiB), fmt(end.rssMiB), fmt(last.rssMiB), `${fmt(rssSlope, 2)}/min`, `rise ≤ ${fmt(rssAllowed)} over ${fmt(windowMin, 1)} min`],
    ['V8 heap used (MiB)', fmt(first.heapUsedMiB), fmt(end.heapUsedMiB), fmt(last.heapUsedMiB), `${fmt(heapSlope, 2)}/min`, '(reported)'],
    ['active handles', first.handles, end.handles, last.handles, `${fmt(handleSlope, 2)}/min`, `rise ≤ ${fmt(handlesAllowed)} over ${fmt(windowMin, 1)} min`],
    ['event-loop p99 (ms)', fmt(first.loopP99Ms), fmt(end.loopP99Ms), fmt(last.loopP99Ms), `max ${fmt(Math.max(...loopP99))}`, '(reported)'],
    ['db pool in use / idle / waiting', `${first.poolInUse}/${first.poolIdle}/${first.poolWaiting}`, `${end.poolInUse}/${end.poolIdle}/${end.poolWaiting}`, `${last.poolInUse}/${last.poolIdle}/${last.poolWaiting}`, '', 'no waiters at the end'],
  ];
  process.stdout.write(`\n${table(['measure', 'start', 'end (loaded)', 'after (idle)', 'trend, 2nd half', 'threshold'], rows)}\n\n`);
  const total = requests;
  process.stdout.write(`requests: ${total} (${fmt(total / (DURATION_MS / 1000), 0)}/s), 5xx: ${serverErrors}, network errors: ${networkErrors}\n`);
  process.stdout.write(`${[...outcomes].sort().map(([k, v]) => `${k}: ${v}`).join(', ')}\n`);
  process.stdout.write(
    `resumed ${resumes} dropped streams (${deltasBeforeDrop} deltas before the drops, ${deltasAfterResume} after), ${replays} idempotent retries replayed, ` +
      `frugal user refused ${frugalRefusals}×, busiest user's day.used ${maxDayUsed} tokens; failures: ${failures.size === 0 ? 'none' : [...failures].map(([k, v]) => `${k}: ${v}`).join(', ')}\n`,
  );
  for (const [name, ok] of Object.entries(checks)) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}\n`);

  const result = {
    bench: 'soak',
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
    setup: { database: db.describe, redis: redis.describe, clients: CLIENTS, frugal_clients: 1, tokens_per_day: TOKENS_PER_DAY, frugal_tokens_per_day: FRUGAL_TOKENS_PER_DAY, duration_s: DURATION_MS / 1000, sample_ms: SAMPLE_MS, model_delay_ms: MODEL_DELAY_MS, max_old_space_mb: MAX_OLD_SPACE_MB },
    requests: { total, per_second: total / (DURATION_MS / 1000), server_errors: serverErrors, network_errors: networkErrors, by_outcome: Object.fromEntries([...outcomes].sort()) },
    reliable_delivery: {
      resumes,
      deltas_before_drop: deltasBeforeDrop,
      deltas_after_resume: deltasAfterResume,
      idempotent_replays: replays,
      frugal_budget_refusals: frugalRefusals,
      max_day_used: maxDayUsed,
      failures: Object.fromEntries(failures),
    },
    start: first,
    end,
    after_idle: last,
    second_half_trend_per_min: { rss_mib: rssSlope, heap_used_mib: heapSlope, active_handles: handleSlope },
    thresholds: { rss_rise_mib: rssAllowed, handles_rise: handlesAllowed, window_min: windowMin },
    event_loop_p99_ms_max: Math.max(...loopP99),
    checks,
    samples,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/soak.json', `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('wrote bench/results/soak.json\n');
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
