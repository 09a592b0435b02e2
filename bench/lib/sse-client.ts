import { request } from 'node:http';
import { createSseDecoder } from '../../service/src/platform/sse-decoder.js';

/**
 * What one streamed message (POST …/messages with Accept: text/event-stream) showed its client, in
 * plain data: times are the caller's clock (`now`, performance.now() by default).
 */
export interface SseStreamRecord {
  status?: number;
  /** The first `message` event (the stored user message) arrived: the stream is open. */
  openedAt?: number;
  /** The names of the events other than `delta`, in order. */
  events: string[];
  deltas: number;
  last?: { event: string; data: any };
  endAt?: number;
  /** How the response ended: 'end' (clean), or the error. */
  end?: string;
}

export interface SseStream {
  /** Filled in as the stream goes. */
  readonly record: SseStreamRecord;
  /** Resolves at the first `message` event; rejects if the stream ends before it. */
  readonly opened: Promise<void>;
  /** Resolves when the response ended, however. */
  readonly ended: Promise<void>;
  destroy(): void;
}

export interface SseStreamOptions {
  port: number;
  host?: string;
  path: string;
  token: string;
  /** The request body, sent as JSON. */
  body: unknown;
  now?: () => number;
  /** Every event as it arrives (deltas included), after the record took it in. */
  onEvent?: (event: string, data: any, at: number) => void;
}

/**
 * One SSE stream on a connection of its own (node:http, no agent: nothing reconnects or retries behind
 * the caller's back), read with the project's one SSE parser (service/src/platform/sse-decoder.ts);
 * heartbeats are comments and are not recorded.
 */
export function openSseStream(options: SseStreamOptions): SseStream {
  const now = options.now ?? (() => performance.now());
  const record: SseStreamRecord = { events: [], deltas: 0 };
  let opened!: () => void;
  let failed!: (err: Error) => void;
  const openedP = new Promise<void>((res, rej) => {
    opened = res;
    failed = rej;
  });
  let ended!: () => void;
  const endedP = new Promise<void>((res) => (ended = res));
  const done = (how: string) => {
    if (record.end !== undefined) return;
    record.end = how;
    record.endAt = now();
    failed(new Error(`stream ended before its first event: ${how}`));
    ended();
  };
  const req = request(
    {
      host: options.host ?? '127.0.0.1',
      port: options.port,
      path: options.path,
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${options.token}` },
    },
    (res) => {
      record.status = res.statusCode;
      const decoder = createSseDecoder();
      res.on('data', (chunk: Buffer) => {
        for (const { event, data } of decoder.pushEvents(chunk)) {
          let parsed: any;
          try {
            parsed = data ? JSON.parse(data) : undefined;
          } catch {
            parsed = data;
          }
          if (event === 'delta') record.deltas += 1;
          else record.events.push(event);
          record.last = { event, data: parsed };
          if (event === 'message' && record.openedAt === undefined) {
            record.openedAt = now();
            opened();
          }
          options.onEvent?.(event, parsed, now());
        }
      });
      res.on('end', () => done('end'));
      res.on('error', (err: NodeJS.ErrnoException) => done(`${err.code ?? ''} ${err.message}`.trim()));
      res.on('close', () => {
        if (!res.complete) done('closed before its end');
      });
    },
  );
  req.on('error', (err: NodeJS.ErrnoException) => done(`${err.code ?? ''} ${err.message}`.trim()));
  req.end(JSON.stringify(options.body));
  return { record, opened: openedP, ended: endedP, destroy: () => req.destroy() };
}

/** One complete event of a stream as its client read it: the name, the id (sticky, as in EventSource) and the parsed data. */
export interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

/**
 * Reads a text/event-stream body (a fetch Response's) with the same parser until it ends — or, with
 * `stopAfterBytes`, until that many bytes and at least one complete event were read: a client that
 * walks away mid-stream (`cut`), knowing the id of the last event it got whole. Returns only complete
 * events; the body is cancelled either way.
 */
export async function readSseEvents(body: ReadableStream<Uint8Array>, options: { stopAfterBytes?: number } = {}): Promise<{ events: SseEvent[]; cut: boolean }> {
  const decoder = createSseDecoder();
  const reader = body.getReader();
  const events: SseEvent[] = [];
  let bytes = 0;
  try {
    for (;;) {
      if (options.stopAfterBytes !== undefined && bytes >= options.stopAfterBytes && events.length > 0) return { events, cut: true };
      const { value, done } = await reader.read();
      if (done) return { events, cut: false };
      bytes += value.length;
      for (const { event, id, data } of decoder.pushEvents(value)) {
        let parsed: any;
        try {
          parsed = data ? JSON.parse(data) : undefined;
        } catch {
          parsed = data;
        }
        events.push({ event, id, data: parsed });
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
