import type { Context, Middleware } from 'koa';
import getRawBody from 'raw-body';
import sjson from 'secure-json-parse';
import { AppError } from '../errors.js';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Reads a JSON request body with the size limit enforced while streaming: a Content-Length above
 * the limit is refused before a byte is read, and a chunked body is cut off as soon as it passes the
 * limit (the connection is then closed, so the rest is never buffered). Only `application/json`
 * (or `+json`) is accepted. Prototype-poisoning keys (`__proto__`, `constructor.prototype`) are
 * refused as malformed. The parsed value lands in `ctx.request.body` (undefined when there is none).
 */
export function jsonBody(limitBytes: number): Middleware {
  return async (ctx, next) => {
    if (!BODY_METHODS.has(ctx.method) || !hasBody(ctx.req.headers)) return next();

    if (!ctx.is('application/json', '+json')) {
      throw new AppError('unsupported_media_type', { detail: 'Request bodies must be application/json.' });
    }
    const declared = ctx.get('content-length');
    if (declared && Number(declared) > limitBytes) throw tooLarge(ctx, limitBytes);

    const charset = ctx.request.charset || 'utf-8';
    if (!/^utf-?8$/i.test(charset)) {
      throw new AppError('unsupported_media_type', { detail: 'Request bodies must be UTF-8.' });
    }
    let text: string;
    try {
      text = await getRawBody(ctx.req, { limit: limitBytes, length: declared || undefined, encoding: 'utf-8' });
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type === 'entity.too.large') throw tooLarge(ctx, limitBytes);
      if (type === 'request.aborted') {
        // The client went away; there is nobody to answer.
        throw new AppError('bad_request', { detail: 'The request body was not completely received.' });
      }
      throw new AppError('bad_request', { detail: 'The request body could not be read.' });
    }
    if (text.trim() === '') {
      (ctx.request as { body?: unknown }).body = undefined;
      return next();
    }
    try {
      (ctx.request as { body?: unknown }).body = sjson.parse(text, undefined, {
        protoAction: 'error',
        constructorAction: 'error',
      });
    } catch {
      throw new AppError('invalid_json', { detail: 'The request body is not valid JSON.' });
    }
    return next();
  };
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/** Lingering close after a 413: how long, and how much, we keep discarding before cutting the connection. */
const LINGER_MS = 2000;
const LINGER_MAX_BYTES = 8 * 1024 * 1024;

function tooLarge(ctx: Context, limitBytes: number): AppError {
  // The rest of the body is never read into memory. Once the 413 is written we half-close (FIN) and
  // discard what is already in flight for a short, bounded time before cutting the connection:
  // destroying at once would make the kernel answer the client's next bytes with a reset, which
  // can discard our 413 before the client reads it (nginx's "lingering close" does the same).
  const socket = ctx.req.socket;
  ctx.res.once('finish', () => {
    let discarded = 0;
    const cut = setTimeout(() => socket.destroy(), LINGER_MS);
    cut.unref();
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > LINGER_MAX_BYTES) socket.destroy();
    });
    socket.once('close', () => clearTimeout(cut));
    socket.end();
  });
  return new AppError('payload_too_large', { detail: `The request body exceeds ${limitBytes} bytes.` });
}

declare module 'koa' {
  interface Request {
    body?: unknown;
  }
}
