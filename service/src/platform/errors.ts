/**
 * One catalogue of every error a client can receive: stable `code`, HTTP status and title.
 * Clients switch on `code` (docs/api.md, "Conventions"); titles are fixed per code and
 * `detail` is written for humans and never carries secrets, SQL or stack traces.
 */
export const errorCatalogue = {
  not_found: { status: 404, title: 'Not Found' },
  method_not_allowed: { status: 405, title: 'Method Not Allowed' },
  unsupported_media_type: { status: 415, title: 'Unsupported Media Type' },
  payload_too_large: { status: 413, title: 'Payload Too Large' },
  invalid_json: { status: 400, title: 'Malformed JSON' },
  validation_failed: { status: 400, title: 'Validation Failed' },
  bad_request: { status: 400, title: 'Bad Request' },
  request_header_fields_too_large: { status: 431, title: 'Request Header Fields Too Large' },
  request_timeout: { status: 408, title: 'Request Timeout' },
  invalid_email: { status: 400, title: 'Invalid Email' },
  weak_password: { status: 400, title: 'Weak Password' },
  email_taken: { status: 409, title: 'Email Taken' },
  invalid_credentials: { status: 401, title: 'Invalid Credentials' },
  invalid_webauthn_response: { status: 400, title: 'Invalid WebAuthn Response' },
  passkey_limit_reached: { status: 409, title: 'Passkey Limit Reached' },
  https_required: { status: 403, title: 'HTTPS Required' },
  email_not_verified: { status: 403, title: 'Email Not Verified' },
  account_disabled: { status: 403, title: 'Account Disabled' },
  invalid_or_expired_token: { status: 400, title: 'Invalid or Expired Token' },
  reauthentication_required: { status: 401, title: 'Reauthentication Required' },
  invalid_code: { status: 400, title: 'Invalid Code' },
  invalid_mfa_token: { status: 401, title: 'Invalid MFA Token' },
  mfa_already_enabled: { status: 409, title: 'MFA Already Enabled' },
  second_factor_required: { status: 401, title: 'Second Factor Required' },
  mfa_enrolment_required: { status: 403, title: 'MFA Enrolment Required' },
  invalid_token: { status: 401, title: 'Invalid Token' },
  invalid_refresh_token: { status: 401, title: 'Invalid Refresh Token' },
  refresh_token_reused: { status: 401, title: 'Refresh Token Reused' },
  rate_limited: { status: 429, title: 'Too Many Requests' },
  too_many_attempts: { status: 429, title: 'Too Many Attempts' },
  too_many_streams: { status: 429, title: 'Too Many Streams' },
  idempotency_key_mismatch: { status: 422, title: 'Idempotency Key Mismatch' },
  idempotency_key_in_use: { status: 409, title: 'Idempotency Key In Use' },
  too_many_model_calls: { status: 429, title: 'Too Many Model Calls' },
  budget_exhausted: { status: 429, title: 'Budget Exhausted' },
  model_unavailable: { status: 502, title: 'Model Unavailable' },
  model_timeout: { status: 504, title: 'Model Timeout' },
  service_unavailable: { status: 503, title: 'Service Unavailable' },
  shutting_down: { status: 503, title: 'Shutting Down' },
  internal_error: { status: 500, title: 'Internal Server Error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface AppErrorOptions {
  detail?: string;
  /** Extra members of the problem object (e.g. `errors`, `feedback`). Must be safe to show. */
  extensions?: Record<string, unknown>;
  /** Response headers that belong to this error (Retry-After, WWW-Authenticate…). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** The one error type of the service. Everything it carries is safe to send to the client. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;
  /** Koa convention: an exposed error's message may reach the client. */
  readonly expose = true;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    const entry = errorCatalogue[code];
    super(options.detail ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.detail = options.detail;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
