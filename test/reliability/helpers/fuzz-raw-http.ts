import { connect } from 'node:net';

/**
 * A raw HTTP/1.1 client for hostile-input tests: it writes exactly the bytes it is given (wrong
 * Content-Length, invalid UTF-8, duplicate headers…), which fetch and node:http refuse to send, and
 * parses the first response that comes back.
 */
export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Milliseconds from the first byte written to the response being complete (or the socket closing). */
  elapsedMs: number;
}

export type RawOutcome = { kind: 'response'; response: RawResponse } | { kind: 'closed'; elapsedMs: number; received: number };

export interface RawRequestOptions {
  port: number;
  host?: string;
  /** The whole request as it goes on the wire. */
  bytes: Buffer;
  /** Half-close after writing (a client that declared more body than it sends). */
  endAfterWrite?: boolean;
  /** Give up (reject) after this long: that is a hang. */
  timeoutMs: number;
}

export class HangError extends Error {}

export function rawRequest(options: RawRequestOptions): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ port: options.port, host: options.host ?? '127.0.0.1', allowHalfOpen: true });
    let buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: RawOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(
      () => finish(new HangError(`no complete response within ${options.timeoutMs} ms (${buffer.length} bytes received)`)),
      options.timeoutMs,
    );
    socket.on('connect', () => {
      socket.write(options.bytes);
      if (options.endAfterWrite) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResponse(buffer, false);
      if (parsed) finish({ kind: 'response', response: { ...parsed, elapsedMs: performance.now() - started } });
    });
    const onEnd = () => {
      const parsed = parseResponse(buffer, true);
      const elapsedMs = performance.now() - started;
      if (parsed) finish({ kind: 'response', response: { ...parsed, elapsedMs } });
      else finish({ kind: 'closed', elapsedMs, received: buffer.length });
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after (or instead of) the response: whatever arrived is what we judge.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') onEnd();
      else finish(err);
    });
  });
}

/** Parses one HTTP/1.1 response from `buf`; undefined while incomplete. `eof`: the peer closed. */
export function parseResponse(buf: Buffer, eof: boolean): Omit<RawResponse, 'elapsedMs'> | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) return undefined;
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = buf.subarray(headEnd + 4);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, headers, body: Buffer.alloc(0) };
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return eof ? { status, headers, body: rest } : undefined;
    return { status, headers, body: rest.subarray(0, length) };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body = dechunk(rest);
    if (body) return { status, headers, body };
    return eof ? { status, headers, body: rest } : undefined;
  }
  return eof ? { status, headers, body: rest } : undefined;
}

function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return buf.indexOf('\r\n', lineEnd + 2) >= 0 ? Buffer.concat(parts) : undefined;
    if (buf.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
