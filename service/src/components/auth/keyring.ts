import { createHash, createPrivateKey, createSecretKey, hkdfSync, type KeyObject, webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { z } from 'zod';
import { keysDocumentSchema } from './keys-schema.js';

type CryptoKey = webcrypto.CryptoKey;

export type JwtAlgorithm = 'HS256' | 'EdDSA';

export interface JwtKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly verifyKey: CryptoKey;
  /** Only on the signing key: a node:crypto key, for jws-sign.ts (verification goes through jose and verifyKey). */
  readonly signKey: KeyObject | undefined;
  /** Public JWK published at /.well-known/jwks.json (EdDSA only: HMAC keys are never published). */
  readonly publicJwk: JWK | undefined;
}

export interface Keyring {
  readonly signing: JwtKey;
  byKid(kid: string): JwtKey | undefined;
  /** Public keys in use, for /.well-known/jwks.json (empty for HS256). */
  readonly jwks: { keys: JWK[] };
  /**
   * Server-side key for derivations that need a secret but not a signature (the successor of a
   * refresh token). Derived with HKDF from the signing key's secret material.
   */
  readonly derivationKey: Uint8Array;
  /**
   * derivationKey first, then those of the other keys holding secret material: a refresh retried
   * just after a key rotation still finds the successor derived before it.
   */
  readonly derivationKeys: readonly Uint8Array[];
  readonly kids: readonly string[];
}

export class KeyringError extends Error {
  override name = 'KeyringError';
}

const MIN_HMAC_BYTES = 64;

/** kid of the key made from a bare JWT_SECRET: a short hash, so rotating the secret changes it. */
export function kidForSecret(secret: Uint8Array): string {
  return `hs-${createHash('sha256').update(secret).digest('base64url').slice(0, 16)}`;
}

/** The WebCrypto key jose verifies HS256 tokens with (signing uses a node:crypto key: jws-sign.ts). */
async function hmacKey(bytes: Uint8Array): Promise<CryptoKey> {
  if (bytes.length < MIN_HMAC_BYTES) throw new KeyringError(`HS256 keys must be at least ${MIN_HMAC_BYTES} bytes`);
  return webcrypto.subtle.importKey('raw', new Uint8Array(bytes), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']) as Promise<CryptoKey>;
}

function derive(material: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', material, 'rampart', 'refresh-token successor v1', 32));
}

function assemble(keys: JwtKey[], signingKid: string, derivationKeys: Uint8Array[]): Keyring {
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  if (byKid.size !== keys.length) throw new KeyringError('duplicate kid in JWT_KEYS');
  const signing = byKid.get(signingKid);
  if (!signing?.signKey) throw new KeyringError(`the signing key "${signingKid}" is missing or has no private part`);
  return {
    signing,
    byKid: (kid) => byKid.get(kid),
    jwks: { keys: keys.flatMap((k) => (k.publicJwk ? [k.publicJwk] : [])) },
    derivationKey: derivationKeys[0] as Uint8Array,
    derivationKeys,
    kids: [...byKid.keys()],
  };
}

/** The keyring of a single HS256 secret (JWT_SECRET). */
export async function keyringFromSecret(secret: Uint8Array): Promise<Keyring> {
  const kid = kidForSecret(secret);
  const key = await hmacKey(secret);
  return assemble([{ kid, alg: 'HS256', verifyKey: key, signKey: createSecretKey(secret), publicJwk: undefined }], kid, [derive(secret)]);
}

/**
 * The keyring of a JWT_KEYS document: one signing key, the others verify-only, each algorithm fixed
 * by its key type (oct → HS256, OKP/Ed25519 → EdDSA), so a token can never choose its algorithm.
 */
export async function keyringFromDocument(json: string): Promise<Keyring> {
  let parsed: z.infer<typeof keysDocumentSchema>;
  try {
    parsed = keysDocumentSchema.parse(JSON.parse(json));
  } catch {
    // Never include the document (it holds private keys) in the message.
    throw new KeyringError('JWT_KEYS is not a valid keyring document ({"signing": kid, "keys": [JWK…]})');
  }
  const keys: JwtKey[] = [];
  let derivationKey: Uint8Array | undefined;
  const otherDerivationKeys: Uint8Array[] = [];
  for (const jwk of parsed.keys) {
    const isSigning = jwk.kid === parsed.signing;
    if (jwk.kty === 'oct') {
      const bytes = new Uint8Array(Buffer.from(jwk.k, 'base64url'));
      const key = await hmacKey(bytes);
      keys.push({ kid: jwk.kid, alg: 'HS256', verifyKey: key, signKey: isSigning ? createSecretKey(bytes) : undefined, publicJwk: undefined });
      if (isSigning) derivationKey = derive(bytes);
      else otherDerivationKeys.push(derive(bytes));
    } else {
      const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: jwk.kid, alg: 'EdDSA', use: 'sig' };
      const verifyKey = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA')) as CryptoKey;
      let signKey: KeyObject | undefined;
      if (isSigning) {
        if (!jwk.d) throw new KeyringError(`the signing key "${jwk.kid}" has no private part`);
        // An Ed25519 private key is 32 bytes (RFC 8037 §2); anything else is a damaged document, not a mismatch.
        if (Buffer.from(jwk.d, 'base64url').length !== 32)
          throw new KeyringError(`the signing key "${jwk.kid}": its private part is not a 32-byte Ed25519 key`);
        try {
          // Node refuses a private part that is not the published key's (it would sign tokens no verifier accepts).
          signKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
        } catch {
          throw new KeyringError(`the signing key "${jwk.kid}": its private part does not match its public key`);
        }
        derivationKey = derive(new Uint8Array(Buffer.from(jwk.d, 'base64url')));
      } else if (jwk.d) {
        otherDerivationKeys.push(derive(new Uint8Array(Buffer.from(jwk.d, 'base64url'))));
      }
      keys.push({ kid: jwk.kid, alg: 'EdDSA', verifyKey, signKey, publicJwk });
    }
  }
  if (!derivationKey) throw new KeyringError(`the signing key "${parsed.signing}" is not in the keyring`);
  return assemble(keys, parsed.signing, [derivationKey, ...otherDerivationKeys]);
}

/** A fresh Ed25519 private JWK (for tests and `secops keys`). */
export async function generateEd25519Jwk(kid: string): Promise<JWK> {
  const pair = await generateKeyPair('Ed25519', { extractable: true });
  return { ...(await exportJWK(pair.privateKey)), kid };
}
