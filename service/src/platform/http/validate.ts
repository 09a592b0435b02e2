import type { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Parses a request body (or query) against a zod schema; failure → 400 `validation_failed` listing
 * the failing fields (`errors: [{field, message}]`). Received values are never echoed back.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what = 'request body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.slice(0, 20).map((issue) => ({
    field: issue.path.length ? issue.path.join('.') : '(root)',
    message: issue.message,
  }));
  throw new AppError('validation_failed', { detail: `The ${what} is not valid.`, extensions: { errors } });
}
