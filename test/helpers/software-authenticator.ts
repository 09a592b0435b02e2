import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * A WebAuthn authenticator in software, for tests: one P-256 (ES256) credential, attestation 'none',
 * producing the JSON a browser's PublicKeyCredential.toJSON() sends. Everything a real authenticator
 * and client would put in is built here byte by byte (WebAuthn Level 3 §6.1, §6.5), so the service's
 * verification is exercised as it is with a real one; the overrides produce the responses an attacker
 * or a broken client would send (another origin, another RP ID, a counter that went backwards).
 */

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;

function cborHead(major: number, value: number): Buffer {
  if (value < 24) return Buffer.from([(major << 5) | value]);
  if (value < 0x100) return Buffer.from([(major << 5) | 24, value]);
  if (value < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(value, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(value, 1);
  return b;
}

/** The CBOR (RFC 8949) subset a COSE key and an attestation object need: small integers, strings, bytes, maps. */
export function encodeCbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  const parts = [cborHead(5, value.size)];
  for (const [k, v] of value) parts.push(encodeCbor(k), encodeCbor(v));
  return Buffer.concat(parts);
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

export interface CeremonyOverrides {
  /** The origin the "browser" reports (default: the authenticator's). */
  origin?: string;
  /** The RP ID whose hash goes into authenticatorData (default: the authenticator's). */
  rpId?: string;
  /** The signature counter to report (default: the next one). */
  signCount?: number;
  /** User verification performed (default true). */
  userVerified?: boolean;
  /** clientDataJSON's type (default webauthn.create / webauthn.get). */
  type?: string;
}

export interface SoftwareAuthenticatorOptions {
  rpId: string;
  origin: string;
  /** Backup eligible and backed up (a synced passkey): BE|BS set. Default false (a device-bound key). */
  backedUp?: boolean;
  /** Keeps a signature counter (registration reports 0, each assertion one more); false: always 0, as synced passkeys do. Default true. */
  counts?: boolean;
}

export interface SoftwareAuthenticator {
  /** The credential id, base64url (32 random bytes). */
  readonly credentialId: string;
  /** The user handle given at registration (base64url), sent back in assertions. */
  userHandle: string | undefined;
  signCount: number;
  /** navigator.credentials.create(): a RegistrationResponseJSON answering `options`. */
  register(options: { challenge: string; user: { id: string } }, overrides?: CeremonyOverrides): Record<string, unknown>;
  /** navigator.credentials.get(): an AuthenticationResponseJSON answering `options`. */
  assert(options: { challenge: string }, overrides?: CeremonyOverrides): Record<string, unknown>;
}

export function createSoftwareAuthenticator(options: SoftwareAuthenticatorOptions): SoftwareAuthenticator {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }) as { publicKey: KeyObject; privateKey: KeyObject };
  const jwk = publicKey.export({ format: 'jwk' });
  // COSE_Key (RFC 9053): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
  const coseKey = encodeCbor(
    new Map<Cbor, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x as string, 'base64url')],
      [-3, Buffer.from(jwk.y as string, 'base64url')],
    ]),
  );
  const rawId = randomBytes(32);
  const aaguid = Buffer.alloc(16); // attestation 'none': the zero AAGUID
  const backup = options.backedUp ? FLAG_BE | FLAG_BS : 0;

  const clientData = (type: string, challenge: string, origin: string) =>
    Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
  const counter = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const flags = (overrides: CeremonyOverrides, extra: number) =>
    Buffer.from([FLAG_UP | (overrides.userVerified === false ? 0 : FLAG_UV) | backup | extra]);

  /** PublicKeyCredential.toJSON() around a ceremony's `response`. */
  const credential = (response: Record<string, unknown>) => ({
    id: rawId.toString('base64url'),
    rawId: rawId.toString('base64url'),
    type: 'public-key',
    response,
    authenticatorAttachment: 'platform',
    clientExtensionResults: {},
  });

  const authenticator: SoftwareAuthenticator = {
    credentialId: rawId.toString('base64url'),
    userHandle: undefined,
    signCount: 0,

    register(creation, overrides = {}) {
      authenticator.userHandle = creation.user.id;
      const credIdLength = Buffer.alloc(2);
      credIdLength.writeUInt16BE(rawId.length, 0);
      const authData = Buffer.concat([
        sha256(overrides.rpId ?? options.rpId),
        flags(overrides, FLAG_AT),
        counter(overrides.signCount ?? authenticator.signCount),
        aaguid,
        credIdLength,
        rawId,
        coseKey,
      ]);
      const attestationObject = encodeCbor(
        new Map<Cbor, Cbor>([
          ['fmt', 'none'],
          ['attStmt', new Map()],
          ['authData', authData],
        ]),
      );
      const clientDataJSON = clientData(overrides.type ?? 'webauthn.create', creation.challenge, overrides.origin ?? options.origin);
      return credential({
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['internal', 'hybrid'],
      });
    },

    assert(request, overrides = {}) {
      if (overrides.signCount === undefined && options.counts !== false) authenticator.signCount += 1;
      const count = overrides.signCount ?? authenticator.signCount;
      const authData = Buffer.concat([sha256(overrides.rpId ?? options.rpId), flags(overrides, 0), counter(count)]);
      const clientDataJSON = clientData(overrides.type ?? 'webauthn.get', request.challenge, overrides.origin ?? options.origin);
      // ECDSA over authenticatorData ‖ SHA-256(clientDataJSON), DER-encoded (node's default for EC keys).
      const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), privateKey);
      return credential({
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(authenticator.userHandle ? { userHandle: authenticator.userHandle } : {}),
      });
    },
  };
  return authenticator;
}
