import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSseDecoder, SseTooLargeError } from '../../../service/src/platform/sse-decoder.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Feeds `body` cut at the given byte offsets; returns every event's data. */
function decodeSplit(body: Uint8Array, cuts: number[]): string[] {
  const decoder = createSseDecoder();
  const events: string[] = [];
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    events.push(...decoder.push(body.subarray(from, cut)));
    from = cut;
  }
  events.push(...decoder.end());
  return events;
}

describe('event stream decoder', () => {
  it('gives the data of each event; comments and other fields are ignored', () => {
    const body = bytes(': keep-alive\n\nevent: chunk\nid: 7\nretry: 10\ndata: {"a":1}\n\ndata:no-space\n\n');
    assert.deepEqual(decodeSplit(body, []), ['{"a":1}', 'no-space']);
  });

  it('joins the data lines of a multi-line event with LF', () => {
    assert.deepEqual(decodeSplit(bytes('data: {"a":\ndata: 1}\n\n'), []), ['{"a":\n1}']);
  });

  it('accepts CRLF and CR line endings', () => {
    assert.deepEqual(decodeSplit(bytes('data: one\r\n\r\ndata: two\r\rdata: three\n\n'), []), ['one', 'two', 'three']);
  });

  it('drops an event that the body ends before its blank line', () => {
    assert.deepEqual(decodeSplit(bytes('data: complete\n\ndata: cut'), []), ['complete']);
  });

  it('gives the same events wherever the bytes are split, even inside a UTF-8 character or a CRLF pair', () => {
    const body = bytes(': ping\r\n\r\ndata: {"t":"héllo wörld 🌍 日本語"}\r\n\r\ndata: a\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n');
    const expected = ['{"t":"héllo wörld 🌍 日本語"}', 'a\nb', '[DONE]'];
    for (let i = 0; i <= body.length; i++) {
      assert.deepEqual(decodeSplit(body, [i]), expected, `split at ${i}`);
      for (let j = i; j <= Math.min(body.length, i + 5); j++)
        assert.deepEqual(decodeSplit(body, [i, j]), expected, `split at ${i},${j}`);
    }
    assert.deepEqual(
      decodeSplit(
        body,
        Array.from({ length: body.length }, (_, k) => k),
      ),
      expected,
      'one byte at a time',
    );
  });

  it('refuses a line that never ends instead of buffering without bound', () => {
    const decoder = createSseDecoder({ maxEventChars: 100 });
    decoder.push(bytes(`data: ${'x'.repeat(90)}`));
    assert.throws(() => decoder.push(bytes('x'.repeat(20))), SseTooLargeError);
  });
});

describe('SSE decoder: event names, ids and comments (what the tests and benches read from our own streams)', () => {
  it('names each event, keeps the last id, and passes comments (heartbeats) to onComment', () => {
    const comments: string[] = [];
    const decoder = createSseDecoder({ onComment: (text) => comments.push(text) });
    const text = 'event: message\nid: 7\ndata: {"a":1}\n\n: ping\n\nevent: delta\ndata: {"text":"hi"}\n\ndata: plain\n\n';
    // Split mid-line and mid-field: the decoder is incremental.
    const events = [...decoder.pushEvents(text.slice(0, 17)), ...decoder.pushEvents(Buffer.from(text.slice(17)))];
    assert.deepEqual(events, [
      { event: 'message', data: '{"a":1}', id: '7' },
      { event: 'delta', data: '{"text":"hi"}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
    assert.deepEqual(comments, ['ping']);
  });

  it('an event without data is not dispatched, and its name does not leak into the next one', () => {
    const decoder = createSseDecoder();
    assert.deepEqual(decoder.pushEvents('event: lonely\n\ndata: x\n\n'), [{ event: 'message', data: 'x' }]);
  });
});
