import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Refresh tokens are opaque: 256 random bits, base64url. The database holds only their SHA-256
 * (a hash of a high-entropy token needs no salt or stretching).
 */
export function generateRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The successor of a refresh token is derived from it with a keyed HMAC, so a client retrying
 * within the grace window receives the same successor again while nothing recoverable is stored.
 * Keyed, so a thief holding an old token cannot compute its descendants without presenting it
 * (which is reuse, and revokes the session).
 */
export function deriveSuccessorToken(parentToken: string, key: Uint8Array): string {
  return createHmac('sha256', key).update('rampart refresh successor\0').update(parentToken, 'utf8').digest('base64url');
}

/** Shape check before any lookup: 32 bytes in base64url is exactly 43 characters. */
export function looksLikeRefreshToken(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}
