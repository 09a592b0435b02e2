import { GENEROUS_LIMITS, TEST_JWT_SECRET } from '../../helpers/app.js';
import { assertResponseMatchesOpenApi } from '../../helpers/openapi.js';
import { parseSse, type SseEvent } from '../../helpers/sse.js';
import { TEST_PASSWORD } from '../../helpers/users.js';

/**
 * What the fault tests share: bounded requests against a spawned service (a hang is an answer of its
 * own, never a stuck test), a tally that sorts every answer seen during a fault into "served",
 * "refused by design" and "unexpected", and small polling helpers with deadlines.
 */

export const PASSWORD = TEST_PASSWORD;

/** The environment of a spawned service under test: cheap Argon2 (tests only), limits it cannot reach. */
export function serviceEnv(extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    ...GENEROUS_LIMITS,
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    BUILTIN_MODEL_DELAY_MS: '0',
    LOG_LEVEL: 'info', // spawnService waits for the `listening` line
    ...extra,
  };
}

/** Only what a child needs: nothing of this process's DATABASE_URL/REDIS_URL leaks into the service under test. */
export const CHILD_ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC' };

export interface Answer {
  /** 0: no answer within the deadline (a hang) or the connection failed. */
  status: number;
  /** The problem's `code`, for problem+json answers. */
  code?: string;
  body: any;
  headers: Headers;
  text: string;
  ms: number;
  /** Why status is 0. */
  failure?: string;
}

export interface CallOptions {
  token?: string;
  json?: unknown;
  /** Give up after this long: the answer is then a hang (status 0). */
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Check a real answer against service/openapi.yaml (default true). */
  contract?: boolean;
}

/** One request, bounded by `timeoutMs`; never throws for a network failure or a timeout (status 0). */
export async function call(baseUrl: string, method: string, path: string, options: CallOptions): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const started = performance.now();
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const body = /json/.test(type) && text !== '' ? JSON.parse(text) : text;
    const answer: Answer = { status: res.status, body, headers: res.headers, text, ms: performance.now() - started };
    if (type.startsWith('application/problem+json')) answer.code = body.code;
    if (options.contract !== false && !type.startsWith('text/event-stream')) {
      assertResponseMatchesOpenApi({ method, path: path.split('?')[0] as string }, answer);
    }
    return answer;
  } catch (err) {
    const e = err as Error;
    if (e.name === 'AssertionError') throw err;
    return { status: 0, body: undefined, headers: new Headers(), text: '', ms: performance.now() - started, failure: `${e.name}: ${e.message}` };
  }
}

/** A streamed message (Accept: text/event-stream), read to its end within `timeoutMs`. */
export async function callStream(
  baseUrl: string,
  conversationId: string,
  options: { token: string; content: string; timeoutMs: number },
): Promise<Answer & { events: SseEvent[] }> {
  const answer = await call(baseUrl, 'POST', `/v1/conversations/${conversationId}/messages`, {
    token: options.token,
    json: { content: options.content },
    timeoutMs: options.timeoutMs,
    headers: { accept: 'text/event-stream' },
  });
  const events = answer.headers.get('content-type')?.startsWith('text/event-stream') ? parseSse(answer.text).events : [];
  return { ...answer, events };
}

export type Verdict = 'served' | 'by_design' | 'unexpected';

/** Counts answers by verdict; keeps the unexpected ones whole, for the failure message. */
export class Tally {
  requests = 0;
  served = 0;
  byDesign = 0;
  maxMs = 0;
  readonly unexpected: string[] = [];

  /** `byDesignLabel` names the by-design refusals in the summary (503s for an outage, 502/504s for a model fault). */
  constructor(
    readonly name: string,
    readonly byDesignLabel = 'refused_503_by_design',
  ) {}

  add(what: string, answer: Answer, verdict: Verdict): void {
    this.requests++;
    this.maxMs = Math.max(this.maxMs, answer.ms);
    if (verdict === 'served') this.served++;
    else if (verdict === 'by_design') this.byDesign++;
    else this.unexpected.push(`${what} → ${answer.status || answer.failure} ${answer.code ?? ''} after ${Math.round(answer.ms)} ms ${answer.text.slice(0, 200)}`);
  }

  summary(extra: Record<string, number | string> = {}): string {
    const fields = {
      requests_during_fault: this.requests,
      served_2xx: this.served,
      [this.byDesignLabel]: this.byDesign,
      unexpected: this.unexpected.length,
      max_latency_ms: Math.round(this.maxMs),
      ...extra,
    };
    return `[faults] ${this.name}: ${Object.entries(fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`;
  }
}

/** A 503 the way the catalogue says a dependency outage looks: problem+json, code, Retry-After. */
export function isServiceUnavailable(answer: Answer): boolean {
  const retryAfter = Number(answer.headers.get('retry-after'));
  return (
    answer.status === 503 &&
    answer.code === 'service_unavailable' &&
    (answer.headers.get('content-type') ?? '').startsWith('application/problem+json') &&
    Number.isInteger(retryAfter) &&
    retryAfter >= 1
  );
}

export { settledWithin, waitFor } from '../../helpers/wait.js';

/** Runs `step` in `workers` loops until `stop` aborts; each loop gets its worker index. */
export async function runWorkers(workers: number, stop: AbortSignal, step: (worker: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (!stop.aborted) await step(worker);
    }),
  );
}

/** A gauge or counter's value from a Prometheus text scrape (first sample whose line starts with `series`). */
export async function scrape(metricsUrl: string, series: string): Promise<number | undefined> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  if (!res?.ok) return undefined;
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Signs a fresh user up and gives back its access token. */
export async function newUser(baseUrl: string, tag: string): Promise<{ email: string; token: string; refreshToken: string }> {
  const email = `${tag}-${process.pid}-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const res = await call(baseUrl, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD }, timeoutMs: 10_000 });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${res.text}`);
  return { email, token: res.body.access_token, refreshToken: res.body.refresh_token };
}

/** The service's error and fatal log lines (the diagnosis to print with a failed assertion). */
export function errorLines(output: string, max = 5): string {
  return output
    .split('\n')
    .filter((l) => /"level":"(error|fatal)"/.test(l))
    .slice(0, max)
    .map((l) => l.slice(0, 1500))
    .join('\n');
}

