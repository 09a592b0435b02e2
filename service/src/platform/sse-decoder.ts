/**
 * Incremental text/event-stream decoder (WHATWG HTML, "Event stream interpretation",
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), the one
 * SSE parser of the project: the OpenAI-compatible model provider reads upstream streams with it, and
 * the tests and benches read Rampart's own streams with it (test/helpers/sse.ts, bench/lib/sse-client.ts).
 * Feed it the body as it arrives, split anywhere (inside a line, a CRLF pair or a UTF-8 character);
 * it returns each completed event. Lines may end in LF, CR or CRLF; several `data` lines join with LF;
 * `retry` is ignored; comments go to `onComment`. Invalid UTF-8 becomes U+FFFD, as in EventSource.
 */
export interface SseMessage {
  /** The `event` field, `message` when absent. */
  event: string;
  data: string;
  /** The `id` field, when the event has one. */
  id?: string;
}

export interface SseDecoder {
  /** The data of every event these bytes complete. */
  push(bytes: Uint8Array): string[];
  /** Every event these bytes (or this text) complete, with its name and id. */
  pushEvents(chunk: Uint8Array | string): SseMessage[];
  /** End of the body: an event without its closing blank line is dropped (per the spec). */
  end(): string[];
}

/** Thrown when a line or an event grows past the limit: an upstream that never ends a line. */
export class SseTooLargeError extends Error {
  override name = 'SseTooLargeError';
}

const LF = 10;
const CR = 13;

export function createSseDecoder(options: { maxEventChars?: number; onComment?: (text: string) => void } = {}): SseDecoder {
  const maxEventChars = options.maxEventChars ?? 1 << 20;
  const utf8 = new TextDecoder('utf-8');
  let pending = ''; // the unterminated tail of the text so far (never contains CR or LF)
  let afterCR = false; // the last line ended in CR: an LF starting the next text belongs to it
  let data: string[] = [];
  let dataChars = 0;
  let event = '';
  let id: string | undefined;

  function line(text: string, events: SseMessage[]): void {
    if (text === '') {
      const joined = data.join('\n');
      if (joined !== '') events.push({ event: event || 'message', data: joined, ...(id === undefined ? {} : { id }) });
      data = [];
      dataChars = 0;
      event = '';
      return;
    }
    if (text.charCodeAt(0) === 0x3a) {
      // ":" comment (a heartbeat)
      options.onComment?.(text.slice(1).trimStart());
      return;
    }
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'id') id = value.includes('\0') ? id : value;
    else if (field === 'data') {
      dataChars += value.length + 1;
      if (dataChars > maxEventChars) throw new SseTooLargeError('event stream event too large');
      data.push(value);
    }
  }

  function feed(text: string): SseMessage[] {
    const events: SseMessage[] = [];
    if (text.length === 0) return events;
    if (afterCR && text.charCodeAt(0) === LF) text = text.slice(1);
    afterCR = false;
    const scanFrom = pending.length;
    const buffer = pending + text;
    let start = 0;
    for (let i = scanFrom; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      line(buffer.slice(start, i), events);
      if (c === CR) {
        if (i + 1 === buffer.length) afterCR = true;
        else if (buffer.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    pending = buffer.slice(start);
    if (pending.length > maxEventChars) throw new SseTooLargeError('event stream line too long');
    return events;
  }

  return {
    push: (bytes) => feed(utf8.decode(bytes, { stream: true })).map((e) => e.data),
    pushEvents: (chunk) => feed(typeof chunk === 'string' ? chunk : utf8.decode(chunk, { stream: true })),
    end: () => {
      feed(utf8.decode());
      return [];
    },
  };
}
