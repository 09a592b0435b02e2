import { createSseDecoder } from '../../service/src/platform/sse-decoder.js';

export interface SseEvent {
  event: string;
  data: any;
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
  const events = decoder.pushEvents(raw).map((e) => ({ event: e.event, data: JSON.parse(e.data) }));
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
