import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import canonicalize from 'canonicalize';
import { CliError, EXIT } from '../errors.js';

/**
 * The manifest signing keyring (BACKUP_SIGNING_KEY): `{"signing": kid, "keys": [JWK…]}` with Ed25519
 * `OKP` keys (EdDSA) or `oct` keys (HS256), or one base64url HMAC key. Keys other than the signing one
 * verify only (rotation); an Ed25519 key without `d` verifies but cannot sign (a verifier-only
 * machine). A signature covers the RFC 8785 canonical JSON of the whole manifest but its `signature`
 * block. Errors name kids, never key material.
 */

export type SignatureAlg = 'EdDSA' | 'HS256';

export interface ManifestSignature {
  alg: SignatureAlg;
  kid: string;
  value: string;
}

interface SigningKey {
  kid: string;
  alg: SignatureAlg;
  /** HS256: the secret; EdDSA: the public key. */
  verifier: KeyObject | Buffer;
  /** EdDSA private key, or the HMAC secret; absent for a verify-only Ed25519 key. */
  signer?: KeyObject | Buffer;
}

export interface SigningKeyring {
  signingKid: string | undefined;
  keys: ReadonlyMap<string, SigningKey>;
}

export const MIN_HMAC_KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class SigningKeyError extends CliError {
  constructor(message: string) {
    super(`BACKUP_SIGNING_KEY: ${message}`, { exitCode: EXIT.config, code: 'signing_key_invalid' });
  }
}

/** Parses the keyring text; throws SigningKeyError (never echoing the text). */
export function parseSigningKeyring(text: string): SigningKeyring {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) {
    if (!BASE64URL.test(trimmed)) throw new SigningKeyError('neither a JSON keyring nor a base64url HMAC key');
    const secret = Buffer.from(trimmed, 'base64url');
    if (secret.length < MIN_HMAC_KEY_BYTES)
      throw new SigningKeyError(`an HMAC key needs at least ${MIN_HMAC_KEY_BYTES} bytes, this one has ${secret.length}`);
    // A single key's kid is derived from it (a hash, not the key) so that rotation to a keyring can name it.
    const kid = `hs256-${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
    return { signingKid: kid, keys: new Map([[kid, { kid, alg: 'HS256', verifier: secret, signer: secret }]]) };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    throw new SigningKeyError('the keyring is not valid JSON');
  }
  const { signing, keys } = (doc ?? {}) as { signing?: unknown; keys?: unknown };
  if (!Array.isArray(keys) || keys.length === 0) throw new SigningKeyError('the keyring has no "keys" array');
  if (signing !== undefined && typeof signing !== 'string') throw new SigningKeyError('"signing" must be a kid');
  const map = new Map<string, SigningKey>();
  keys.forEach((jwk, i) => {
    const key = parseJwk(jwk, i);
    if (map.has(key.kid)) throw new SigningKeyError(`kid ${key.kid} appears twice`);
    map.set(key.kid, key);
  });
  if (signing !== undefined && !map.has(signing)) throw new SigningKeyError(`the signing kid ${signing} is not in "keys"`);
  return { signingKid: signing, keys: map };
}

function parseJwk(jwk: unknown, index: number): SigningKey {
  const k = (jwk ?? {}) as Record<string, unknown>;
  const kid = k.kid;
  if (typeof kid !== 'string' || kid === '') throw new SigningKeyError(`keys[${index}] has no kid`);
  if (k.kty === 'oct') {
    if (typeof k.k !== 'string' || !BASE64URL.test(k.k)) throw new SigningKeyError(`key ${kid}: "k" must be base64url`);
    const secret = Buffer.from(k.k, 'base64url');
    if (secret.length < MIN_HMAC_KEY_BYTES)
      throw new SigningKeyError(`key ${kid}: an HMAC key needs at least ${MIN_HMAC_KEY_BYTES} bytes`);
    return { kid, alg: 'HS256', verifier: secret, signer: secret };
  }
  if (k.kty === 'OKP' && k.crv === 'Ed25519' && typeof k.x === 'string') {
    const pub = { kty: 'OKP', crv: 'Ed25519', x: k.x };
    try {
      const verifier = createPublicKey({ key: pub, format: 'jwk' });
      const signer = typeof k.d === 'string' ? createPrivateKey({ key: { ...pub, d: k.d }, format: 'jwk' }) : undefined;
      // node:crypto refuses a `d` that does not belong to `x` (and the test pins it).
      return { kid, alg: 'EdDSA', verifier, signer };
    } catch {
      throw new SigningKeyError(`key ${kid}: not a valid Ed25519 JWK`);
    }
  }
  throw new SigningKeyError(`key ${kid}: only Ed25519 "OKP" and "oct" (HMAC) keys are accepted`);
}

/** The bytes a signature covers: the canonical JSON (RFC 8785) of the manifest without `signature`. */
export function signedBytes(manifest: Readonly<Record<string, unknown>>): Buffer {
  const { signature: _ignored, ...content } = manifest;
  const text = canonicalize(content);
  if (text === undefined) throw new Error('the manifest cannot be canonicalized');
  return Buffer.from(text, 'utf8');
}

/** Signs with the keyring's signing key. */
export function signManifest(manifest: Readonly<Record<string, unknown>>, keyring: SigningKeyring): ManifestSignature {
  const key = keyring.signingKid ? keyring.keys.get(keyring.signingKid) : undefined;
  if (!key) throw new SigningKeyError('the keyring names no signing key ("signing")');
  if (!key.signer)
    throw new SigningKeyError(`key ${key.kid} has no private part ("d"): this keyring can verify backups but not sign them`);
  const data = signedBytes(manifest);
  const value =
    key.alg === 'HS256'
      ? createHmac('sha256', key.signer as Buffer)
          .update(data)
          .digest('base64url')
      : sign(null, data, key.signer as KeyObject).toString('base64url');
  return { alg: key.alg, kid: key.kid, value };
}

export type SignatureProblem = 'unsigned' | 'unknown_kid' | 'bad_signature';

/** null when `manifest.signature` is a valid signature of its content by a key of the keyring. */
export function signatureProblem(manifest: Readonly<Record<string, unknown>>, keyring: SigningKeyring): SignatureProblem | null {
  const sig = manifest.signature as Partial<ManifestSignature> | undefined;
  if (
    !sig ||
    typeof sig !== 'object' ||
    typeof sig.kid !== 'string' ||
    typeof sig.value !== 'string' ||
    typeof sig.alg !== 'string'
  )
    return 'unsigned';
  const key = keyring.keys.get(sig.kid);
  if (!key) return 'unknown_kid';
  // The alg comes from the key, never from the manifest (no algorithm confusion).
  if (sig.alg !== key.alg) return 'bad_signature';
  const given = Buffer.from(sig.value, 'base64url');
  const data = signedBytes(manifest);
  if (key.alg === 'HS256') {
    const expected = createHmac('sha256', key.verifier as Buffer)
      .update(data)
      .digest();
    return given.length === expected.length && timingSafeEqual(given, expected) ? null : 'bad_signature';
  }
  return verify(null, data, key.verifier as KeyObject, given) ? null : 'bad_signature';
}

/** A fresh keyring document (`secops backup signing-key generate`): one key, the signing one. */
export function generateSigningKeyring(
  alg: 'ed25519' | 'hs256',
  kid = `backup-${new Date().toISOString().slice(0, 10)}`,
): string {
  if (alg === 'hs256') {
    const k = Buffer.from(crypto.getRandomValues(new Uint8Array(MIN_HMAC_KEY_BYTES))).toString('base64url');
    return JSON.stringify({ signing: kid, keys: [{ kty: 'oct', kid, alg: 'HS256', k }] });
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return JSON.stringify({ signing: kid, keys: [{ kty: 'OKP', crv: 'Ed25519', kid, alg: 'EdDSA', x: jwk.x, d: jwk.d }] });
}

/** The keyring without private parts: what a verify-only machine (a drill host) may be given. */
export function publicKeyringOf(text: string): string {
  const doc = JSON.parse(text) as { signing?: string; keys: Record<string, unknown>[] };
  return JSON.stringify({ keys: doc.keys.filter((k) => k.kty === 'OKP').map(({ d: _d, ...pub }) => pub) });
}
