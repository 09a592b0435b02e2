import { createHash, randomInt } from 'node:crypto';

/**
 * Recovery codes: 10 single-use codes of 12 Crockford base32 characters (60 bits each), shown in
 * groups of four (`7K2Q-M9XD-4TFB`). Stored as SHA-256 — with 60 random bits a code needs no slow
 * hash. Typing is forgiving: case, spaces and dashes are ignored, and O/I/L read as 0/1/1.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 12;

export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
  });
}

/** The canonical form of a typed code, or undefined when it cannot be one (no hashing for garbage). */
export function normalizeRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 40) return undefined;
  const code = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

export function hashRecoveryCode(normalized: string): Buffer {
  return createHash('sha256').update(`rampart-recovery:${normalized}`).digest();
}
