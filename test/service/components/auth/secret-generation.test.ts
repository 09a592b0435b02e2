/**
 * Where the service's unguessable values come from and how many bits they carry (ASVS 5.0 6.5.3, 6.5.4,
 * 7.2.3, 11.5.1): node:crypto's CSPRNG, checked by replacing it for one call and seeing its bytes come
 * out, then by the real output's size and uniqueness.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, describe, it, mock } from 'node:test';
import { generateAccountToken, looksLikeAccountToken } from '../../../../service/src/components/auth/account-tokens.js';
import { generateRecoveryCodes, normalizeRecoveryCode } from '../../../../service/src/components/auth/mfa/recovery-codes.js';
import { generateRefreshToken, looksLikeRefreshToken } from '../../../../service/src/components/auth/refresh-tokens.js';

/** Replaces node:crypto's randomBytes for the modules that imported it by name (their live binding). */
function fakeRandomBytes(fill: number): number[] {
  const sizes: number[] = [];
  mock.method(crypto, 'randomBytes', (size: number) => {
    sizes.push(size);
    return Buffer.alloc(size, fill);
  });
  syncBuiltinESMExports();
  return sizes;
}

afterEach(() => {
  mock.restoreAll();
  syncBuiltinESMExports();
});

describe('unguessable values come from node:crypto with enough bits', () => {
  it('refresh tokens are 32 bytes of node:crypto randomBytes, base64url', () => {
    const sizes = fakeRandomBytes(0xab);
    assert.equal(generateRefreshToken(), Buffer.alloc(32, 0xab).toString('base64url'));
    assert.deepEqual(sizes, [32]);
    mock.restoreAll();
    syncBuiltinESMExports();
    const real = generateRefreshToken();
    assert.ok(looksLikeRefreshToken(real));
    assert.equal(Buffer.from(real, 'base64url').length, 32);
  });

  it('one-time tokens (verification, reset, email change) are 32 bytes of node:crypto randomBytes', () => {
    const sizes = fakeRandomBytes(0x5c);
    assert.equal(generateAccountToken(), Buffer.alloc(32, 0x5c).toString('base64url'));
    assert.deepEqual(sizes, [32]);
    mock.restoreAll();
    syncBuiltinESMExports();
    const real = generateAccountToken();
    assert.ok(looksLikeAccountToken(real));
    assert.equal(Buffer.from(real, 'base64url').length, 32);
  });

  it('recovery codes are 24 Crockford base32 characters drawn with node:crypto randomInt (120 bits)', () => {
    const draws: number[] = [];
    mock.method(crypto, 'randomInt', (max: number) => {
      draws.push(max);
      return draws.length % 32;
    });
    syncBuiltinESMExports();
    const faked = generateRecoveryCodes(2);
    assert.equal(draws.length, 48, 'one draw per character');
    assert.ok(
      draws.every((max) => max === 32),
      'each draw picks one of 32 symbols: 5 bits',
    );
    assert.equal(faked[0], '1234-5678-9ABC-DEFG-HJKM-NPQR');
    mock.restoreAll();
    syncBuiltinESMExports();

    const codes = generateRecoveryCodes();
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) {
      assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$/);
      assert.equal(normalizeRecoveryCode(code)?.length, 24); // 24 × 5 = 120 bits
    }
  });

  it('a thousand refresh and one-time tokens are all distinct', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      tokens.add(generateRefreshToken());
      tokens.add(generateAccountToken());
    }
    assert.equal(tokens.size, 2000);
  });
});
