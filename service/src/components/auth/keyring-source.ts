import type { JwtMaterial } from '../../config/references.js';
import { decodeJwtSecret } from '../../config/settings.js';
import { type Keyring, KeyringError, keyringFromDocument, keyringFromSecret } from './keyring.js';

/**
 * A keyring source for the reloader: reads the material afresh (through *_REF, *_FILE or the
 * environment) and builds the keyring the same way start-up does. Anything unusable throws, and the
 * reloader keeps the keys in force.
 */
export function keyringSource(read: () => Promise<JwtMaterial>): () => Promise<Keyring> {
  // Unchanged material gives back the keyring already built: no key import every interval, and the
  // verified-token cache (keyed by key object) stays warm between rotations.
  let last: { keys: string | undefined; secret: string | undefined; keyring: Keyring } | undefined;
  return async () => {
    const material = await read();
    if (last && last.keys === material.keys && last.secret === material.secret) return last.keyring;
    let keyring: Keyring;
    if (material.keys) keyring = await keyringFromDocument(material.keys);
    else if (material.secret) {
      // The start-up rule (settings.ts), so a secret refused at start is refused on reload too.
      const decoded = decodeJwtSecret(material.secret);
      if ('problem' in decoded) throw new KeyringError(decoded.problem);
      keyring = await keyringFromSecret(decoded.bytes);
    } else throw new KeyringError('neither JWT_KEYS nor JWT_SECRET is configured any more');
    last = { keys: material.keys, secret: material.secret, keyring };
    return keyring;
  };
}
