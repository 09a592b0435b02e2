import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * The keyring that encrypts TOTP secrets at rest (MFA_ENCRYPTION_KEY). AES-256-GCM with a random
 * 96-bit IV per secret; the row's key id and the user id are the additional data, so a ciphertext
 * moved to another user or relabelled with another key fails to decrypt. The primary key encrypts;
 * every key decrypts — so a new key is deployed first as a secondary (old replicas keep working),
 * then promoted, then `secops mfa reencrypt` moves every row to it, then the old key is removed.
 */
export interface MfaKeyring {
  readonly primaryId: string;
  readonly ids: readonly string[];
  encrypt(plaintext: Buffer, userId: string): { keyId: string; ciphertext: Buffer };
  /** Throws when the key is unknown or the ciphertext was tampered with. */
  decrypt(keyId: string, ciphertext: Buffer, userId: string): Buffer;
}

export class MfaKeyringError extends Error {}

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function decodeKey(id: string, text: unknown): Buffer {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(text)) throw new MfaKeyringError(`MFA_ENCRYPTION_KEY: key "${id}" must be base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== 32) throw new MfaKeyringError(`MFA_ENCRYPTION_KEY: key "${id}" must decode to 32 bytes (got ${bytes.length}; generate one with: npx secops secret generate --bytes 32)`);
  return bytes;
}

/** The id of a lone key: derived from the key itself, so every replica names it alike. */
export function keyIdOf(key: Buffer): string {
  return `k${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/** Parses MFA_ENCRYPTION_KEY: one base64url key, or {"primary": id, "keys": {id: key, …}}. */
export function parseMfaKeyring(text: string): MfaKeyring {
  const trimmed = text.trim();
  const keys = new Map<string, Buffer>();
  let primaryId: string;
  if (trimmed.startsWith('{')) {
    let doc: { primary?: unknown; keys?: unknown };
    try {
      doc = JSON.parse(trimmed) as typeof doc;
    } catch {
      throw new MfaKeyringError('MFA_ENCRYPTION_KEY: not valid JSON');
    }
    if (typeof doc.keys !== 'object' || doc.keys === null || Array.isArray(doc.keys)) throw new MfaKeyringError('MFA_ENCRYPTION_KEY: "keys" must be an object of id → key');
    for (const [id, value] of Object.entries(doc.keys)) {
      if (!KEY_ID.test(id)) throw new MfaKeyringError(`MFA_ENCRYPTION_KEY: key id "${id.slice(0, 70)}" must be 1–64 of A-Z a-z 0-9 _ . -`);
      keys.set(id, decodeKey(id, value));
    }
    if (typeof doc.primary !== 'string' || !keys.has(doc.primary)) throw new MfaKeyringError('MFA_ENCRYPTION_KEY: "primary" must name one of "keys"');
    primaryId = doc.primary;
  } else {
    const key = decodeKey('(single)', trimmed);
    primaryId = keyIdOf(key);
    keys.set(primaryId, key);
  }
  return keyringOf(primaryId, keys);
}

function additionalData(keyId: string, userId: string): Buffer {
  return Buffer.from(`rampart-totp\u0000${keyId}\u0000${userId}`, 'utf8');
}

function keyringOf(primaryId: string, keys: ReadonlyMap<string, Buffer>): MfaKeyring {
  return Object.freeze({
    primaryId,
    ids: Object.freeze([...keys.keys()]),
    encrypt(plaintext: Buffer, userId: string) {
      const key = keys.get(primaryId) as Buffer;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(additionalData(primaryId, userId));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { keyId: primaryId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]) };
    },
    decrypt(keyId: string, ciphertext: Buffer, userId: string) {
      const key = keys.get(keyId);
      if (!key) throw new MfaKeyringError(`no key "${keyId}" in MFA_ENCRYPTION_KEY`);
      if (ciphertext.length < 29) throw new MfaKeyringError('ciphertext too short');
      const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(0, 12));
      decipher.setAAD(additionalData(keyId, userId));
      decipher.setAuthTag(ciphertext.subarray(12, 28));
      return Buffer.concat([decipher.update(ciphertext.subarray(28)), decipher.final()]);
    },
  });
}

/** Development only (config/load.ts warns): a fixed key derived from a constant, so restarts keep working. */
export function developmentMfaKey(): string {
  return createHash('sha256').update('rampart development MFA key — never in production').digest('base64url');
}
