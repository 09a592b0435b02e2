/**
 * npm run bench:chat — (1) latency of POST /v1/conversations/{id}/messages without streaming (builtin
 * model at zero pacing), next to GET /v1/conversations/{id} on the same connection pattern as a
 * baseline measured in the same run; (2) how many concurrent idle SSE streams one service process
 * holds, and its memory per stream (RSS growth / streams).
 */
import { request } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { benchDatabase, NO_RATE_LIMITS, startService } from './lib/service.js';
import { fmt, summarize, table } from './lib/stats.js';
import { runLoad } from './lib/load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 3000);
/** MAX_STREAMS_PER_USER's upper bound: the streams are spread over as many users as that takes. */
const PER_USER = 1000;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function json(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Opens one SSE stream and resolves once its first event (the stored user message) arrived. */
function openStream(port: number, path: string, token: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream refused: ${res.statusCode}`));
          res.resume();
          return;
        }
        res.once('data', () => resolve(() => req.destroy()));
        res.on('error', () => undefined);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ content: 'hold this stream open' }));
  });
}

const db = await benchDatabase();
try {
  // Phase 1: request latency with the builtin model at zero pacing.
  const fast = await startService({ ...db.env, ...NO_RATE_LIMITS, BUILTIN_MODEL_DELAY_MS: '0' });
  let createStats = summarize([]);
  let baselineStats = summarize([]);
  let createRate = 0;
  let baselineRate = 0;
  try {
    const s = await json(fast.baseUrl, 'POST', '/v1/auth/signup', { email: 'bench-chat@example.com', password: 'correct horse battery staple 42' });
    const token = s.body.access_token as string;
    const conv = await json(fast.baseUrl, 'POST', '/v1/conversations', {}, token);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const convPath = `/v1/conversations/${conv.body.id}`;
    await runLoad({ url: fast.baseUrl, connections: 4, seconds: 2, requests: [{ method: 'GET', path: convPath, headers }] }); // warm-up
    const baseline = await runLoad({ url: fast.baseUrl, connections: 8, seconds: SECONDS, requests: [{ method: 'GET', path: convPath, headers }] });
    const create = await runLoad({
      url: fast.baseUrl,
      connections: 8,
      seconds: SECONDS,
      requests: [{ method: 'POST', path: `${convPath}/messages`, headers, body: JSON.stringify({ content: 'How thick should a castle wall be?' }) }],
    });
    createStats = summarize(create.latencies);
    baselineStats = summarize(baseline.latencies);
    createRate = create.rate;
    baselineRate = baseline.rate;
    if (create.errors || baseline.errors) throw new Error(`errors: create ${create.errors}, baseline ${baseline.errors}`);
  } finally {
    await fast.stop();
  }

  // Phase 2: idle SSE streams (the model pauses 10 s between words, so every stream stays open and quiet).
  const slow = await startService({
    ...db.env,
    ...NO_RATE_LIMITS,
    BUILTIN_MODEL_DELAY_MS: '10000',
    MAX_STREAMS_PER_USER: '1000',
    MAX_STREAMS_TOTAL: '100000',
    SHUTDOWN_GRACE_MS: '5000',
  });
  let held = 0;
  let rssBefore = 0;
  let rssAfter = 0;
  let failure = '';
  const closers: (() => void)[] = [];
  try {
    const port = Number(new URL(slow.baseUrl).port);
    const targets: { token: string; path: string }[] = [];
    for (let u = 0; u < Math.ceil((STREAMS + 1) / PER_USER); u++) {
      const s = await json(slow.baseUrl, 'POST', '/v1/auth/signup', { email: `bench-sse${u}@example.com`, password: 'correct horse battery staple 42' });
      const token = s.body.access_token as string;
      const conv = await json(slow.baseUrl, 'POST', '/v1/conversations', {}, token);
      targets.push({ token, path: `/v1/conversations/${conv.body.id}/messages` });
    }
    const target = (i: number) => targets[Math.floor(i / PER_USER)] as { token: string; path: string };
    closers.push(await openStream(port, target(0).path, target(0).token)); // warm
    await new Promise((r) => setTimeout(r, 500));
    rssBefore = rssKiB(slow.child.pid as number);
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < STREAMS && Date.now() < deadline; i += 50) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(50, STREAMS - i) }, (_, j) => openStream(port, target(i + j + 1).path, target(i + j + 1).token)),
      );
      for (const r of batch) {
        if (r.status === 'fulfilled') closers.push(r.value);
        else failure ||= String(r.reason);
      }
      if (failure) break;
    }
    held = closers.length - 1;
    await new Promise((r) => setTimeout(r, 1000));
    rssAfter = rssKiB(slow.child.pid as number);
  } finally {
    for (const close of closers) close();
    await slow.stop();
  }

  console.log(`\nbench:chat — ${db.describe}, ${availableParallelism()} CPUs, builtin model, ${SECONDS}s per phase`);
  console.log(
    table(
      ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms'],
      [
        ['GET /v1/conversations/{id} ×8 (baseline)', fmt(baselineRate), fmt(baselineStats.p50, 2), fmt(baselineStats.p95, 2), fmt(baselineStats.p99, 2)],
        ['POST …/messages ×8 (non-streaming, zero pacing)', fmt(createRate), fmt(createStats.p50, 2), fmt(createStats.p95, 2), fmt(createStats.p99, 2)],
      ],
    ),
  );
  console.log(`create-message p50 / baseline p50 = ${fmt(createStats.p50 / baselineStats.p50, 2)}×`);
  const perStream = held > 0 ? (rssAfter - rssBefore) / held : Number.NaN;
  console.log(
    `\nidle SSE streams held by one process: ${held} of ${STREAMS} attempted${failure ? ` (stopped: ${failure})` : ''}; RSS ${fmt(rssBefore / 1024)} → ${fmt(rssAfter / 1024)} MiB = ${fmt(perStream, 1)} KiB per stream`,
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/chat.json',
    `${JSON.stringify({ at: new Date().toISOString(), database: db.describe, create: { rate: createRate, ...createStats }, baseline: { rate: baselineRate, ...baselineStats }, sse: { held, attempted: STREAMS, rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter, kibPerStream: perStream } }, null, 2)}\n`,
  );
} finally {
  await db.drop();
}
