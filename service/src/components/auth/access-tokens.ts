import type { Clock } from '../../platform/clock.js';
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { AppError } from '../../platform/errors.js';
import { signCompactJws } from './jws-sign.js';
import type { JwtKey, Keyring } from './keyring.js';
import { UUID } from '../../platform/text.js';

/** Header of every 401 for a bad bearer token (RFC 6750 §3). */
export const INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"';

export interface AccessTokenClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  /** When the user last proved a factor in this session (s since the epoch); 0 in tokens issued before it existed. */
  auth_time: number;
  /** How (RFC 8176 methods: pwd, otp, hwk, swk, user, mfa). */
  amr: readonly string[];
}

/** What the token says about the session's last proof of a factor. */
export interface Authentication {
  authTime: Date;
  amr: readonly string[];
}

const AMR_VALUES = new Set(['pwd', 'otp', 'hwk', 'swk', 'user', 'mfa']);

export type { Clock } from '../../platform/clock.js';

export interface AccessTokenOptions {
  keyring: () => Keyring;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clock: Clock;
}

/** 30 s of clock skew between replicas and clients is tolerated, no more (docs/api.md "Tokens"). */
const CLOCK_TOLERANCE_SECONDS = 30;
/** A real access token is ~400 bytes; anything this large is an attack on the parser. */
const MAX_TOKEN_LENGTH = 4096;
/** Headers that point a verifier at other keys; we never follow them, and refuse tokens that carry them. */
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256'];
/** Verified tokens remembered (≈ 0.5 KiB each). */
const VERIFIED_TOKENS_MAX = 10_000;

export function invalidToken(detail = 'The access token is missing, malformed, expired or revoked.'): AppError {
  return new AppError('invalid_token', { detail, headers: { 'WWW-Authenticate': INVALID_TOKEN_CHALLENGE } });
}

/**
 * RFC 9068 access tokens: header `typ: at+jwt` and `kid`; claims iss, aud, sub, sid, jti, iat, exp.
 * Signed with node:crypto (jws-sign.ts), verified with jose. Verification pins the algorithm to the
 * one the key was configured with (never the token's choice), requires every claim, and allows 30 s
 * of clock skew.
 */
export function createAccessTokens(options: AccessTokenOptions) {
  const { issuer, audience, ttlSeconds, clock } = options;
  // A client sends the same token with every request for its whole lifetime: a token verified once
  // is remembered by its exact text, with the key object that verified it. A hit still checks the
  // expiry, and that this very key is still in the keyring in force (a reload builds new key objects,
  // so a key removed by `secops keys` invalidates its entries at once). Only valid tokens enter;
  // the oldest entry goes first when full. Revocation is the session guard's job either way.
  const verified = new Map<string, { claims: AccessTokenClaims; key: JwtKey }>();
  const remember = (token: string, claims: AccessTokenClaims, key: JwtKey) => {
    if (verified.size >= VERIFIED_TOKENS_MAX) verified.delete(verified.keys().next().value as string);
    verified.set(token, { claims, key });
  };
  return {
    ttlSeconds,
    async issue(userId: string, sessionId: string, authentication: Authentication): Promise<string> {
      const { signing } = options.keyring();
      if (!signing.signKey) throw new Error(`the signing key "${signing.kid}" has no private part`);
      const now = Math.floor(clock.now().getTime() / 1000);
      // The claims in the order jose's SignJWT wrote them before (its constructor's, then each setter's).
      const claims = {
        sid: sessionId,
        auth_time: Math.floor(authentication.authTime.getTime() / 1000),
        amr: [...authentication.amr],
        iss: issuer,
        aud: audience,
        sub: userId,
        jti: randomUUID(),
        iat: now,
        exp: now + ttlSeconds,
      };
      return signCompactJws(signing.signKey, { alg: signing.alg, typ: 'at+jwt', kid: signing.kid }, claims);
    },

    /** Throws AppError `invalid_token` for anything but a valid token of ours. */
    async verify(token: string): Promise<AccessTokenClaims> {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalidToken();
      const hit = verified.get(token);
      if (hit) {
        const nowSeconds = clock.now().getTime() / 1000;
        if (nowSeconds <= hit.claims.exp + CLOCK_TOLERANCE_SECONDS && options.keyring().byKid(hit.key.kid) === hit.key) return hit.claims;
        verified.delete(token);
      }
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw invalidToken();
      }
      if (FORBIDDEN_HEADERS.some((h) => h in header)) throw invalidToken();
      if (typeof header.kid !== 'string') throw invalidToken();
      const key = options.keyring().byKid(header.kid);
      if (!key || header.alg !== key.alg) throw invalidToken();
      const currentDate = clock.now();
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key.verifyKey, {
          algorithms: [key.alg],
          issuer,
          audience,
          typ: 'at+jwt',
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp'],
          currentDate,
        }));
      } catch {
        throw invalidToken();
      }
      const { sub, sid, jti, iat, exp } = payload;
      if (typeof sub !== 'string' || !UUID.test(sub) || typeof sid !== 'string' || !UUID.test(sid)) throw invalidToken();
      if (typeof jti !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') throw invalidToken();
      // jose does not refuse an iat in the future; a token "issued" later than now + skew is forged or broken.
      if (iat > currentDate.getTime() / 1000 + CLOCK_TOLERANCE_SECONDS) throw invalidToken();
      // auth_time and amr (OpenID Connect Core §2, RFC 8176) arrived with issue 18: a token without them
      // is still valid, but never counts as a recent authentication.
      const authTime = payload.auth_time === undefined ? 0 : payload.auth_time;
      const amr = payload.amr === undefined ? [] : payload.amr;
      if (typeof authTime !== 'number' || !Number.isInteger(authTime) || authTime < 0 || authTime > iat + CLOCK_TOLERANCE_SECONDS) throw invalidToken();
      if (!Array.isArray(amr) || amr.length > 6 || !amr.every((m) => typeof m === 'string' && AMR_VALUES.has(m))) throw invalidToken();
      const claims: AccessTokenClaims = Object.freeze({ sub, sid, jti, iat, exp, auth_time: authTime, amr: Object.freeze([...amr]) });
      remember(token, claims, key);
      return claims;
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
