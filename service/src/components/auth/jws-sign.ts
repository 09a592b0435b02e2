import { createHmac, type KeyObject, sign } from 'node:crypto';
import type { JwtAlgorithm } from './keyring.js';

/**
 * Compact JWS signing (RFC 7515 §7.1; RFC 7519 for the claims) with node:crypto, for the access
 * tokens this service issues (access-tokens.ts).
 *
 * Why not jose's SignJWT, which the service used before: in Node, jose 6 signs through WebCrypto,
 * and every WebCrypto operation is a job handed to libuv's thread pool and back through a promise.
 * On the 2-core machine that measured 265–354 µs of CPU per HS256 token and 286–289 µs per EdDSA
 * token, against 33–45 µs (`createHmac`) and 100–113 µs (`crypto.sign`) here — a noticeable part of
 * what a login costs outside its password hash (docs/performance.md, seventh session).
 *
 * Only signing is done here. Every token is still verified by jose (`jwtVerify`), and the tests
 * require this output to be byte-for-byte what jose's SignJWT produces for the same header and
 * claims, for both algorithms (HMAC-SHA-256 and Ed25519 are deterministic).
 */

/** The key must be one that signs with this algorithm: refused before any byte is signed. */
function assertSigningKey(alg: JwtAlgorithm, key: KeyObject): void {
  const fits =
    alg === 'HS256' ? key.type === 'secret' : alg === 'EdDSA' && key.type === 'private' && key.asymmetricKeyType === 'ed25519';
  if (!fits)
    throw new TypeError(`this key cannot sign ${String(alg)} (HS256 takes an HMAC secret, EdDSA an Ed25519 private key)`);
}

const base64url = (json: string) => Buffer.from(json, 'utf8').toString('base64url');

/**
 * `header.payload.signature`, each part base64url without padding, the first two the JSON of
 * `header` and `payload` as given (property order kept, as JSON.stringify writes it). The header's
 * `alg` is the algorithm signed with; the key must be one for it.
 */
export function signCompactJws(
  key: KeyObject,
  header: { alg: JwtAlgorithm } & Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const { alg } = header;
  assertSigningKey(alg, key);
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature =
    alg === 'HS256' ? createHmac('sha256', key).update(input, 'ascii').digest() : sign(null, Buffer.from(input, 'ascii'), key);
  return `${input}.${signature.toString('base64url')}`;
}
