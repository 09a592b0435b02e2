import { AppError } from '../../platform/errors.js';
import type { PasswordCheck } from './password-policy.js';

/** The errors the auth flows answer with (all from the one catalogue, platform/errors.ts). */

export function invalidCredentials(): AppError {
  // One answer for unknown email and wrong password: same status, body and (with the dummy verify) timing.
  return new AppError('invalid_credentials', { detail: 'The email or password is incorrect.' });
}

export function invalidRefreshToken(): AppError {
  return new AppError('invalid_refresh_token', { detail: 'The refresh token is invalid, expired or revoked.' });
}

export function weakPassword(check: Extract<PasswordCheck, { ok: false }>): AppError {
  return new AppError('weak_password', {
    detail: 'The password is too weak.',
    extensions: { feedback: check.feedback },
  });
}

/** One answer for a token that is unknown, used, superseded, expired or of another kind. */
export function invalidOrExpiredToken(): AppError {
  return new AppError('invalid_or_expired_token', { detail: 'This link is invalid or has expired. Ask for a new one.' });
}
