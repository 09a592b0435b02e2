import { createSseDecoder } from '../../service/src/platform/sse-decoder.js';

export interface SseEvent {
  event: string;
  data: any;
  /** The event's `id:` (every event of a reply stream has one). */
  id?: string;
}

export interface SseResult {
  status: number;
  headers: Headers;
  /** The raw body, for framing checks. */
  raw: string;
  events: SseEvent[];
  /** `: comment` lines (heartbeats). */
  comments: string[];
}

/**
 * Parses a text/event-stream body into events (data as JSON) and comments, with the service's own
 * decoder (platform/sse-decoder.ts): the tests read streams exactly as the spec says a client does.
 */
export function parseSse(raw: string): { events: SseEvent[]; comments: string[] } {
  const comments: string[] = [];
  const decoder = createSseDecoder({ onComment: (text) => comments.push(text.trim()) });
  const events = decoder.pushEvents(raw).map((e) => ({ event: e.event, data: JSON.parse(e.data), ...(e.id === undefined ? {} : { id: e.id }) }));
  return { events, comments };
}

export interface StreamOptions {
  token: string;
  content: string;
  /** Called with each event as it arrives; return true to disconnect (client abort). */
  onEvent?: (e: SseEvent) => boolean | undefined;
}

/** POSTs a message with Accept: text/event-stream and reads the stream to its end (or until onEvent says stop). */
export async function streamMessage(baseUrl: string, conversationId: string, options: StreamOptions): Promise<SseResult> {
  const controller = new AbortController();
  const res = await fetch(`${baseUrl}/v1/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${options.token}` },
    body: JSON.stringify({ content: options.content }),
    signal: controller.signal,
  });
  if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const raw = await res.text();
    return { status: res.status, headers: res.headers, raw, events: raw ? [{ event: 'problem', data: JSON.parse(raw) }] : [], comments: [] };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let raw = '';
  let seen = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
      const complete = raw.slice(0, raw.lastIndexOf('\n\n') + 2);
      const { events } = parseSse(complete);
      for (const e of events.slice(seen)) {
        if (options.onEvent?.(e)) {
          controller.abort();
          await reader.cancel().catch(() => undefined);
          return { status: res.status, headers: res.headers, raw, ...parseSse(complete) };
        }
      }
      seen = events.length;
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  }
  return { status: res.status, headers: res.headers, raw, ...parseSse(raw) };
}

/** A text/event-stream read one event at a time, which the test may drop at any point (a lost connection). */
export interface EventStreamReader {
  readonly status: number;
  readonly headers: Headers;
  /** The next event, or undefined once the stream ended. */
  next(): Promise<SseEvent | undefined>;
  /** Reads to the end: the remaining events. */
  rest(): Promise<SseEvent[]>;
  /** Disconnects (aborts the request) — what was not read yet is lost, as on a dropped connection. */
  drop(): Promise<void>;
}

/** Opens an event stream with `fetch` (`init` as for fetch). A non-stream answer has no events and its body in `problem`. */
export async function openEventStream(url: string, init: RequestInit = {}): Promise<EventStreamReader & { problem?: any }> {
  const controller = new AbortController();
  const res = await fetch(url, { ...init, signal: controller.signal });
  if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const raw = await res.text();
    const empty = async () => undefined;
    return { status: res.status, headers: res.headers, problem: raw ? JSON.parse(raw) : undefined, next: empty, rest: async () => [], drop: empty };
  }
  const reader = res.body.getReader();
  const utf8 = new TextDecoder();
  const decoder = createSseDecoder();
  const ready: SseEvent[] = [];
  let ended = false;
  const next = async (): Promise<SseEvent | undefined> => {
    while (ready.length === 0 && !ended) {
      const { value, done } = await reader.read();
      if (done) ended = true;
      else for (const e of decoder.pushEvents(utf8.decode(value, { stream: true }))) ready.push({ event: e.event, data: JSON.parse(e.data), ...(e.id === undefined ? {} : { id: e.id }) });
    }
    return ready.shift();
  };
  return {
    status: res.status,
    headers: res.headers,
    next,
    async rest() {
      const events: SseEvent[] = [];
      for (let e = await next(); e; e = await next()) events.push(e);
      return events;
    },
    async drop() {
      controller.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}
