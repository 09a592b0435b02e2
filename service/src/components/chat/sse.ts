import { PassThrough } from 'node:stream';

/**
 * A text/event-stream body. Each event is written (and so flushed to the socket) as soon as it is
 * produced; nothing is buffered by us. JSON data never contains a raw newline, so one `data:` line
 * per event is always valid framing.
 */
export function createSseStream() {
  const stream = new PassThrough();
  let open = true;
  stream.on('close', () => {
    open = false;
  });
  return {
    stream,
    get open() {
      return open && !stream.writableEnded;
    },
    /** `id` (no newline in it) is the event's id, the client's `Last-Event-ID` when it reconnects. */
    send(event: string, data: unknown, id?: string): void {
      const idLine = id === undefined ? '' : `id: ${id}\n`;
      if (open && !stream.writableEnded) stream.write(`${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    comment(text: string): void {
      if (open && !stream.writableEnded) stream.write(`: ${text}\n\n`);
    },
    end(): void {
      if (!stream.writableEnded) stream.end();
    },
  };
}

export type SseStream = ReturnType<typeof createSseStream>;
