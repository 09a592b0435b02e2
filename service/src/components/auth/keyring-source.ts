import type { JwtMaterial } from '../../config/references.js';
import { type Keyring, KeyringError, keyringFromDocument, keyringFromSecret } from './keyring.js';

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * A keyring source for the reloader: reads the material afresh (through *_REF, *_FILE or the
 * environment) and builds the keyring the same way start-up does. Anything unusable throws, and the
 * reloader keeps the keys in force.
 */
export function keyringSource(read: () => Promise<JwtMaterial>): () => Promise<Keyring> {
  return async () => {
    const material = await read();
    if (material.keys) return keyringFromDocument(material.keys);
    if (material.secret) {
      if (!BASE64URL.test(material.secret)) throw new KeyringError('JWT_SECRET is not base64url');
      return keyringFromSecret(new Uint8Array(Buffer.from(material.secret, 'base64url')));
    }
    throw new KeyringError('neither JWT_KEYS nor JWT_SECRET is configured any more');
  };
}
