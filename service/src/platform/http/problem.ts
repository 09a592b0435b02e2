import type { Context, Middleware } from 'koa';
import { databaseUnavailable, isDatabaseUnavailable } from '../db.js';
import type { Logger } from '../logger.js';
import { AppError, errorCatalogue, type ErrorCode, isAppError } from '../errors.js';

/** The media type of an RFC 9457 problem; what a stored or received answer is recognised by. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';
/** What the service sends: the media type with its charset (ASVS 5.0 4.1.1), as Koa does for application/json. */
export const PROBLEM_CONTENT_TYPE = `${PROBLEM_MEDIA_TYPE}; charset=utf-8`;

export function problemType(code: ErrorCode): string {
  return `urn:problem-type:rampart:${code}`;
}

/** The RFC 9457 body for an AppError; the request id lets support find the log lines. */
export function problemBody(err: AppError, requestId: string): Record<string, unknown> {
  return {
    ...err.extensions,
    type: problemType(err.code),
    title: err.title,
    status: err.status,
    ...(err.detail ? { detail: err.detail } : {}),
    code: err.code,
    request_id: requestId,
  };
}

export function writeProblem(ctx: Context, err: AppError): void {
  ctx.status = err.status;
  for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
  ctx.type = PROBLEM_CONTENT_TYPE;
  ctx.body = problemBody(err, String(ctx.state.responseRequestId ?? ''));
}

/**
 * Turns whatever a downstream middleware throws into problem+json. AppErrors are shown as they are;
 * errors from Koa/http-errors with a 4xx status are mapped to the catalogue; anything else is an
 * internal fault: 500 `internal_error` carrying only the request id, with the details logged.
 */
export function problemDetails(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const appError = toAppError(err);
      if (appError.code === 'internal_error') {
        logger.error({ err }, 'unhandled error while serving request');
      } else if (isDatabaseUnavailable(err)) {
        logger.warn({ err }, 'database unavailable: request refused with 503');
      }
      if (ctx.headerSent || !ctx.writable) {
        // The response is already on its way (e.g. a stream), or its client has gone: nothing can be
        // sent any more. Unless its head has left, the access log and metrics still get the status
        // the request ended with, not Koa's default 404.
        if (!ctx.headerSent) ctx.status = appError.status;
        ctx.res.destroy();
        return;
      }
      writeProblem(ctx, appError);
    }
  };
}

function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  if (isDatabaseUnavailable(err)) return databaseUnavailable(err);
  const e = err as { status?: number; statusCode?: number; expose?: boolean; type?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const byStatus: Partial<Record<number, ErrorCode>> = {
      400: 'bad_request',
      404: 'not_found',
      405: 'method_not_allowed',
      413: 'payload_too_large',
      415: 'unsupported_media_type',
      431: 'request_header_fields_too_large',
    };
    const code = byStatus[status] ?? 'bad_request';
    return new AppError(code, { cause: err });
  }
  return new AppError('internal_error', { cause: err });
}

export function isKnownErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalogue, code);
}
