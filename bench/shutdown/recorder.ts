import { type Agent, request } from 'node:http';
import { openSseStream, type SseStream } from '../lib/sse-client.js';
import type {
  AcceptTrace,
  ObservedOutcome,
  Recording,
  RequestKind,
  RequestRecord,
  ServiceLogLine,
  ShutdownConfig,
  StreamRecord,
} from './recording.js';

/**
 * Records what every client of the shutdown scenario saw, and reads the service's output (its log and
 * the accept trace of bench/lib/shutdown-probe.cjs) into a Recording. It judges nothing: analyze.ts does.
 *
 * Every request is sent with node:http (not autocannon/undici, which reconnect or retry on their own
 * and would hide what happened) and recorded: when it was written, whether it went out on a reused
 * keep-alive socket, the client port, its status, and how it failed (ECONNREFUSED; reset/hang-up on a
 * reused socket; reset on a fresh connection; response cut; other).
 */
export class ShutdownRecorder {
  private readonly requests: RequestRecord[] = [];
  private readonly readiness: RequestRecord[] = [];
  private readonly streams: { stream: SseStream; shuttingDownAt?: number }[] = [];
  private sigterm?: { at: number; epoch: number };
  private exit: Recording['exit'] = { code: null, signal: null };

  constructor(
    private readonly port: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Requests of the load that ended so far (readiness polls apart). */
  get requestCount(): number {
    return this.requests.length;
  }

  get readinessCount(): number {
    return this.readiness.length;
  }

  /** Sends one request and records it once it ended (in `readiness` for kind 'readyz'). */
  async send(
    kind: RequestKind,
    agent: Agent | false,
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    expect: number[],
  ): Promise<RequestRecord> {
    const rec = await recordRequest(this.port, this.now, kind, agent, method, path, headers, body, expect);
    (kind === 'readyz' ? this.readiness : this.requests).push(rec);
    return rec;
  }

  /** Opens one SSE stream (a connection of its own); its record is kept for the Recording. */
  stream(path: string, token: string, content: string): SseStream {
    const entry: { stream: SseStream; shuttingDownAt?: number } = {
      stream: openSseStream({
        port: this.port,
        path,
        token,
        body: { content },
        now: this.now,
        onEvent: (event, data, at) => {
          if (event === 'error' && data?.code === 'shutting_down') entry.shuttingDownAt = at;
        },
      }),
    };
    this.streams.push(entry);
    return entry.stream;
  }

  /** Notes the instant SIGTERM is sent, on both clocks: call it right before sending the signal. */
  markSigterm(): void {
    const epoch = Date.now();
    this.sigterm = { at: this.now(), epoch };
  }

  markExit(code: number | null, signal: string | null): void {
    this.exit = { at: this.now(), code, signal };
  }

  /** Everything recorded, with the service's output read; call it once the load has stopped. */
  recording(
    config: ShutdownConfig,
    run: { database: string; prompts: Recording['prompts']; streamsOpenedAt: number; serviceOutput: string },
  ): Recording {
    if (!this.sigterm) throw new Error('no SIGTERM was recorded');
    return {
      config,
      database: run.database,
      prompts: run.prompts,
      streamsOpenedAt: run.streamsOpenedAt,
      sigterm: this.sigterm,
      exit: this.exit,
      requests: this.requests,
      readiness: this.readiness,
      streams: this.streams.map(({ stream, shuttingDownAt }) => ({
        ...stream.record,
        events: [...stream.record.events],
        ...(shuttingDownAt === undefined ? {} : { shuttingDownAt }),
      })) satisfies StreamRecord[],
      acceptTrace: parseAcceptTrace(run.serviceOutput) ?? null,
      serviceLog: parseServiceLog(run.serviceOutput),
      serviceWarnings: run.serviceOutput.split('\n').filter((l) => /Warning:/.test(l)),
    };
  }
}

/** One request with node:http, recorded; it never rejects (a failure is an outcome). */
export function recordRequest(
  port: number,
  now: () => number,
  kind: RequestKind,
  agent: Agent | false,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  expect: number[],
): Promise<RequestRecord> {
  return new Promise((resolve) => {
    const rec = { kind, createdAt: now(), reused: false } as RequestRecord;
    let settled = false;
    const finish = (outcome: ObservedOutcome, err?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      rec.endAt = now();
      rec.outcome = outcome;
      rec.reused = req.reusedSocket;
      if (err) rec.error = `${err.code ?? ''} ${err.message}`.trim();
      resolve(rec);
    };
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent });
    req.on('socket', (socket) => {
      if (socket.connecting) {
        socket.once('connect', () => {
          rec.connectedAt = now();
          rec.localPort = socket.localPort;
        });
      } else rec.localPort = socket.localPort;
    });
    req.on('finish', () => (rec.writtenAt = now()));
    req.setTimeout(30_000, () => req.destroy(Object.assign(new Error('bench timeout'), { code: 'BENCH_TIMEOUT' })));
    req.on('response', (res) => {
      rec.responseAt = now();
      rec.status = res.statusCode;
      rec.connectionClose = /\bclose\b/i.test(String(res.headers.connection ?? ''));
      const ok = expect.includes(res.statusCode ?? 0);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (!ok && text.length < 400) text += chunk;
      });
      res.on('end', () => {
        if (!ok) rec.body = text.slice(0, 400);
        finish(ok ? 'served' : 'http_error');
      });
      res.on('error', (err) => finish('response_cut', err));
      res.on('close', () => {
        if (!res.complete) finish('response_cut', Object.assign(new Error('response closed before its end'), { code: 'CUT' }));
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (rec.responseAt !== undefined) return finish('response_cut', err);
      if (err.code === 'ECONNREFUSED') return finish('refused', err);
      if (err.code === 'BENCH_TIMEOUT') return finish('timeout', err);
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE')
        return finish(req.reusedSocket ? 'reset_reused' : 'reset_fresh', err);
      finish('other', err);
    });
    req.end(body);
  });
}

/** The service's JSON log lines (anything else in its output is skipped). */
export function parseServiceLog(text: string): ServiceLogLine[] {
  const out: ServiceLogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (typeof parsed.msg !== 'string') continue;
      out.push({ ...parsed, time: Date.parse(String(parsed.time)), level: String(parsed.level), msg: parsed.msg });
    } catch {
      // not a log line
    }
  }
  return out;
}

/** The line bench/lib/shutdown-probe.cjs wrote when the API listener closed (the first such line). */
export function parseAcceptTrace(text: string): AcceptTrace | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"bench_probe":"listener_close"')) continue;
    const parsed = JSON.parse(line) as AcceptTrace & { bench_probe?: string; listening?: boolean };
    if (parsed.accepted.length > 0) return { time: parsed.time, accepted: parsed.accepted, idle: parsed.idle };
  }
  return undefined;
}
