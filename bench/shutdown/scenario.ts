import type { ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { composeBuiltinReply } from '../../service/src/components/chat/index.js';
import { envInt } from '../lib/env.js';
import { benchDatabase, NO_RATE_LIMITS, startService } from '../lib/service.js';
import type { SseStream } from '../lib/sse-client.js';
import { ShutdownRecorder } from './recorder.js';
import type { Recording, ShutdownConfig } from './recording.js';

/**
 * The shutdown scenario: SIGTERM to the real service under load, every client's view recorded.
 *
 * The service runs as a child process (PostgreSQL throwaway database when BENCH_DATABASE_URL /
 * TEST_DATABASE_URL / DATABASE_URL is set, else PGlite) with the rate limits out of reach,
 * SHUTDOWN_DELAY_MS (default 2000), SHUTDOWN_GRACE_MS (default 10000) and the builtin model paced at
 * BUILTIN_MODEL_DELAY_MS (default 200) per word, and bench/lib/shutdown-probe.cjs preloaded (the
 * server's accept trace). Then:
 *   1. opens BENCH_STREAMS (default 20) SSE streams, a connection each, whose replies are the
 *      longest the builtin model writes (44 words ≈ 8.6 s), so every one is still open at SIGTERM;
 *   2. drives load: BENCH_GET_CONNECTIONS (default 6) closed loops alternating GET /v1/me and
 *      GET /v1/conversations on one keep-alive http.Agent; a non-streaming POST …/messages every
 *      BENCH_POST_INTERVAL_MS (default 300) on another keep-alive agent, with the shortest reply the
 *      model writes (34 words ≈ 6.6 s): about ten are in flight at SIGTERM, a few are sent during
 *      the delay and still end well inside the grace period; a /readyz poll every 10 ms;
 *   3. after BENCH_LOAD_MS (default 3000) sends SIGTERM and keeps every loop running: through the
 *      delay (listener open, readiness 503), past the listener's close (connection refused) and
 *      250 ms past the process's exit. Everything is bounded: the loops stop then, the whole run is
 *      cut at BUDGET_MS (the service killed, the database dropped), and only 127.0.0.1 is used.
 */

/** Requests of all loops together: a bound, far above what a run sends. */
const MAX_REQUESTS = 300_000;
/** The whole run (setup included) is cut here. */
export const BUDGET_MS = 58_000;
const PASSWORD = 'correct horse battery staple 42';
const PROBE = './bench/lib/shutdown-probe.cjs';

/** The scenario's knobs from the environment (the defaults above). */
export function shutdownConfigFromEnv(): ShutdownConfig {
  return {
    delayMs: envInt('SHUTDOWN_DELAY_MS', 2000),
    graceMs: envInt('SHUTDOWN_GRACE_MS', 10_000),
    modelDelayMs: envInt('BUILTIN_MODEL_DELAY_MS', 200),
    streams: envInt('BENCH_STREAMS', 20),
    getLoops: envInt('BENCH_GET_CONNECTIONS', 6),
    postIntervalMs: envInt('BENCH_POST_INTERVAL_MS', 300),
    postMaxInFlight: envInt('BENCH_POST_MAX_IN_FLIGHT', 32),
    loadMs: envInt('BENCH_LOAD_MS', 3000),
    readyPollMs: envInt('BENCH_READY_POLL_MS', 10),
    readyFlipMaxMs: envInt('BENCH_READY_FLIP_MAX_MS', 100),
  };
}

/** The run went past BUDGET_MS: the service was killed and nothing was judged. */
export class ScenarioOverBudget extends Error {
  override name = 'ScenarioOverBudget';
}

export interface ScenarioOptions {
  /** Aborting stops the run at once (the service killed, the loops stopped): a test's own signal. */
  signal?: AbortSignal;
  /** Notes about the run's shape (default console.warn). */
  warn?: (message: string) => void;
}

/** Runs the scenario once; resolves with what it saw. Never outlives BUDGET_MS. */
export async function runShutdownScenario(config: ShutdownConfig, options: ScenarioOptions = {}): Promise<Recording> {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const db = await benchDatabase();
  const budget = new AbortController();
  const watchdog = setTimeout(
    () => budget.abort(new ScenarioOverBudget(`over its ${BUDGET_MS / 1000} s budget; the service was killed`)),
    BUDGET_MS,
  );
  const signal = options.signal ? AbortSignal.any([options.signal, budget.signal]) : budget.signal;
  const run = new Run(signal);
  try {
    const aborted = new Promise<never>((_, reject) => {
      const fail = () =>
        reject(
          budget.signal.aborted ? budget.signal.reason : new Error('the shutdown scenario was aborted', { cause: signal.reason }),
        );
      if (signal.aborted) fail();
      else signal.addEventListener('abort', fail, { once: true });
    });
    return await Promise.race([drive(config, db, run, warn), aborted]);
  } finally {
    clearTimeout(watchdog);
    run.abort();
    await db.drop().catch((err) => warn(`could not drop the bench database: ${err}`));
  }
}

/** What must be torn down when the run ends or is cut short. */
class Run {
  stopped = false;
  child?: ChildProcess;
  private readonly teardown: (() => void)[] = [];

  constructor(readonly signal: AbortSignal) {
    if (signal.aborted) this.stopped = true;
    else signal.addEventListener('abort', () => this.abort(), { once: true });
  }

  /** Registers the service the moment it exists (killed at once if the run is already over). */
  adopt(child: ChildProcess): void {
    this.child = child;
    if (this.stopped) child.kill('SIGKILL');
  }

  onAbort(fn: () => void): void {
    this.teardown.push(fn);
  }

  abort(): void {
    this.stopped = true;
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const fn of this.teardown.splice(0)) fn();
  }
}

async function drive(
  config: ShutdownConfig,
  db: Awaited<ReturnType<typeof benchDatabase>>,
  run: Run,
  warn: (message: string) => void,
): Promise<Recording> {
  // The server-side witness (see bench/lib/shutdown-probe.cjs); startService passes BENCH_NODE_ARGS on.
  const nodeArgs = process.env.BENCH_NODE_ARGS;
  process.env.BENCH_NODE_ARGS = `${nodeArgs ?? ''} --require ${PROBE}`.trim();
  let svc: Awaited<ReturnType<typeof startService>>;
  try {
    svc = await startService({
      ...db.env,
      ...NO_RATE_LIMITS,
      SHUTDOWN_DELAY_MS: String(config.delayMs),
      SHUTDOWN_GRACE_MS: String(config.graceMs),
      BUILTIN_MODEL_DELAY_MS: String(config.modelDelayMs),
      MAX_STREAMS_PER_USER: String(Math.max(3, config.streams)),
      MAX_STREAMS_TOTAL: String(Math.max(1000, config.streams + 10)),
    });
  } finally {
    if (nodeArgs === undefined) delete process.env.BENCH_NODE_ARGS;
    else process.env.BENCH_NODE_ARGS = nodeArgs;
  }
  run.adopt(svc.child);
  if (run.stopped) throw new Error('the run was cut short while the service started');
  const port = Number(new URL(svc.baseUrl).port);
  const now = () => performance.now();
  const recorder = new ShutdownRecorder(port, now);
  const exited = new Promise<void>((resolve) => {
    svc.child.once('exit', (code, signal) => {
      recorder.markExit(code, signal);
      resolve();
    });
  });
  const json = async (method: 'GET' | 'POST', path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${svc.baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: run.signal,
    });
    const parsed = (await res.json()) as Record<string, any>;
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(parsed)}`);
    return parsed;
  };

  // Setup: one user for the request load, one for the streams (its own stream-slot budget).
  const load = await json('POST', '/v1/auth/signup', { email: 'bench-shutdown-load@example.com', password: PASSWORD });
  const streamer = await json('POST', '/v1/auth/signup', { email: 'bench-shutdown-sse@example.com', password: PASSWORD });
  const loadToken = load.access_token as string;
  const streamToken = streamer.access_token as string;
  const postConv = await json('POST', '/v1/conversations', { title: 'shutdown bench: posts' }, loadToken);
  await json('POST', '/v1/conversations', { title: 'shutdown bench: listed' }, loadToken);
  const streamConv = await json('POST', '/v1/conversations', { title: 'shutdown bench: streams' }, streamToken);
  const longPrompt = pickPrompt('Keep this stream open through the restart', true);
  const shortPrompt = pickPrompt('Short', false);
  const postMs = (shortPrompt.words - 1) * config.modelDelayMs;
  const streamMs = (longPrompt.words - 1) * config.modelDelayMs;
  if (config.loadMs + 1000 >= streamMs)
    warn(`warning: streams (~${streamMs} ms) may end before SIGTERM (after ${config.loadMs} ms of load)`);
  if (config.delayMs + postMs >= config.delayMs + config.graceMs)
    warn(`warning: a post sent at the end of the delay (~${postMs} ms) outlasts the grace`);

  // 1. The SSE streams (a connection each).
  const streams: SseStream[] = Array.from({ length: config.streams }, () =>
    recorder.stream(`/v1/conversations/${streamConv.id}/messages`, streamToken, longPrompt.prompt),
  );
  run.onAbort(() => {
    for (const s of streams) s.destroy();
  });
  await Promise.all(streams.map((s) => s.opened));
  const streamsOpenedAt = now();

  // 2. The load: GET loops on one keep-alive agent; non-streaming posts issued every
  // POST_INTERVAL_MS on another (each holds its connection for the whole reply); readiness polls.
  const agent = new Agent({ keepAlive: true, maxSockets: config.getLoops });
  const postAgent = new Agent({ keepAlive: true, maxSockets: config.postMaxInFlight });
  const readyAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  run.onAbort(() => {
    agent.destroy();
    postAgent.destroy();
    readyAgent.destroy();
  });
  const auth = { authorization: `Bearer ${loadToken}` };
  let stop = false;
  const going = () => !stop && !run.stopped;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < config.getLoops; i++) {
    loops.push(
      (async () => {
        let n = i;
        while (going() && recorder.requestCount < MAX_REQUESTS) {
          const me = n++ % 2 === 0;
          const rec = await recorder.send(
            me ? 'me' : 'conversations',
            agent,
            'GET',
            me ? '/v1/me' : '/v1/conversations?limit=10',
            auth,
            undefined,
            [200],
          );
          // No hot loop once nothing listens.
          if (rec.outcome !== 'served') await sleep(20);
        }
      })(),
    );
  }
  loops.push(
    (async () => {
      const inFlight = new Set<Promise<void>>();
      const body = JSON.stringify({ content: shortPrompt.prompt });
      const headers = { ...auth, 'content-type': 'application/json' };
      while (going() && recorder.requestCount < MAX_REQUESTS) {
        if (inFlight.size < config.postMaxInFlight) {
          const p: Promise<void> = recorder
            .send('post_message', postAgent, 'POST', `/v1/conversations/${postConv.id}/messages`, headers, body, [201])
            .then(() => {
              inFlight.delete(p);
            });
          inFlight.add(p);
        }
        await sleep(config.postIntervalMs);
      }
      await Promise.all(inFlight);
    })(),
  );
  loops.push(
    (async () => {
      while (going() && recorder.readinessCount < MAX_REQUESTS) {
        await recorder.send('readyz', readyAgent, 'GET', '/readyz', {}, undefined, [200, 503]);
        await sleep(config.readyPollMs);
      }
    })(),
  );

  await sleep(config.loadMs, undefined, { signal: run.signal });
  // Noted synchronously right before the signal: analyze.ts counts the streams still open then.
  recorder.markSigterm();
  svc.child.kill('SIGTERM');

  // 3. Keep everything running until the process is gone (and a little after), within bounds.
  const hardLimit = config.delayMs + config.graceMs + 12_000;
  const limit = new AbortController();
  const timedOut = await Promise.race([
    exited.then(() => false),
    sleep(hardLimit, true, { signal: AbortSignal.any([run.signal, limit.signal]) }),
  ]).finally(() => limit.abort());
  if (timedOut) {
    warn(`service still running ${hardLimit} ms after SIGTERM; killing it`);
    svc.child.kill('SIGKILL');
    await exited;
  }
  await sleep(250);
  stop = true;
  await Promise.all(loops);
  for (const s of streams) s.destroy();
  await Promise.all(streams.map((s) => s.ended));
  agent.destroy();
  postAgent.destroy();
  readyAgent.destroy();

  return recorder.recording(config, {
    database: db.describe,
    prompts: { postReplyWords: shortPrompt.words, streamReplyWords: longPrompt.words },
    streamsOpenedAt,
    serviceOutput: svc.output(),
  });
}

/**
 * The builtin model's reply length (20–60 words) depends only on the prompt: the longest for streams
 * (open through SIGTERM), the shortest for non-streaming posts (they end inside the grace period even
 * when sent at the end of the delay).
 */
function pickPrompt(prefix: string, longest: boolean): { prompt: string; words: number } {
  let best = { prompt: '', words: longest ? -1 : Number.POSITIVE_INFINITY };
  for (let i = 0; i < 2000; i++) {
    const prompt = `${prefix} ${i}`;
    const words = composeBuiltinReply(prompt).length;
    if (longest ? words > best.words : words < best.words) best = { prompt, words };
  }
  return best;
}
