import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';
import { currentRequestContext } from './request-context.js';

export type { Logger };

/**
 * Paths pino censors when a line is written (see pino's docs/redaction.md). They cover request
 * headers, bodies and error objects wherever a secret could appear; the test in
 * test/service/platform/logger.test.ts pins them.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'password',
  'current_password',
  'new_password',
  'access_token',
  'refresh_token',
  'token',
  'secret',
  'jwt_secret',
  'database_url',
  'connectionString',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.cookie',
  '*.connectionString',
  'body.password',
  'body.refresh_token',
];

export interface LoggerOptions {
  level: string;
  /** Pretty, human-readable output (development on a TTY). */
  pretty?: boolean;
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/**
 * Adds the active span's trace_id and span_id, so a log line leads to its trace. With tracing off
 * (platform/tracing.ts) there is no active span and this costs one lookup.
 */
function withTraceIds(fields: Record<string, string>): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  if (!span || !isSpanContextValid(span)) return fields;
  return { ...fields, trace_id: span.traceId, span_id: span.spanId };
}

/** The service's one logger. Every line carries the request id of the request being served, if any. */
export function createLogger(options: LoggerOptions): Logger {
  const opts = {
    level: options.level,
    base: options.base ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    mixin() {
      const ctx = currentRequestContext();
      const fields: Record<string, string> = !ctx
        ? {}
        : ctx.userId
          ? { request_id: ctx.requestId, user_id: ctx.userId, ip: ctx.ip }
          : { request_id: ctx.requestId, ip: ctx.ip };
      if (ctx?.clientRequestId) fields.client_request_id = ctx.clientRequestId;
      return withTraceIds(fields);
    },
  };
  if (options.destination) return pino(opts, options.destination);
  if (options.pretty) {
    return pino({
      ...opts,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino(opts, bufferedStdout());
}

/** Lines are written once this many bytes are buffered, or at the latest every LOG_FLUSH_MS. */
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 200;

/**
 * stdout, asynchronous and buffered: logging never blocks the event loop on a slow stdout, and under
 * load one write(2) carries a dozen lines instead of one (a loopback write is a tenth of the CPU an
 * authenticated read costs here, issue 24). A line waits at most LOG_FLUSH_MS; at exit — normal,
 * after an uncaught error, on SIGTERM — pino flushes synchronously. Only a SIGKILL or the OOM killer
 * can lose lines: at most LOG_BUFFER_BYTES of them, the last 200 ms.
 */
function bufferedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  const timer = setInterval(() => {
    try {
      dest.flush();
    } catch {
      // not ready yet (opening) or already closed at exit: the next tick or the exit flush writes it
    }
  }, LOG_FLUSH_MS);
  timer.unref();
  dest.on('close', () => clearInterval(timer));
  return dest;
}
