import { createHash, randomInt } from 'node:crypto';

/**
 * Recovery codes: 10 single-use codes of 24 Crockford base32 characters (120 bits each, from the
 * CSPRNG), shown in groups of four (`7K2Q-M9XD-4TFB-…`). ASVS 5.0 6.5.2: a lookup secret under 112
 * bits would need a salted password hash; at 120 bits a standard hash (SHA-256) is enough — and one
 * attempt costs one hash, not ten Argon2 runs. Typing is forgiving: case, spaces and dashes are
 * ignored, and O/I/L read as 0/1/1.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 24;

export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    return code.match(/.{4}/g)?.join('-') as string;
  });
}

/** The canonical form of a typed code, or undefined when it cannot be one (no hashing for garbage). */
export function normalizeRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 64) return undefined;
  const code = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

export function hashRecoveryCode(normalized: string): Buffer {
  return createHash('sha256').update(`rampart-recovery:${normalized}`).digest();
}
