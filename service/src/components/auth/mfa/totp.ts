import { generateSecret, generateURI, verify } from 'otplib';

/**
 * RFC 6238 TOTP as every authenticator app does it: SHA-1, 6 digits, 30 s steps, 160-bit secrets
 * (RFC 4226 §4 recommends 160), one step of drift either way. Replay is refused by the caller: a code
 * is accepted only for a time step after the last one accepted (`afterStep`).
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;

export function generateTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function otpauthUri(secret: string, account: string, issuer: string): string {
  return generateURI({ issuer, label: account, secret, algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
}

/** Six digits, nothing else: anything longer or shorter is wrong without spending a verification. */
export function looksLikeTotpCode(code: unknown): code is string {
  return typeof code === 'string' && /^\d{6}$/.test(code);
}

/** The time step the code belongs to (now ±1), if it is right and newer than `afterStep`; else undefined. */
export async function acceptTotpCode(secret: string, code: string, nowMs: number, afterStep: number): Promise<number | undefined> {
  if (!looksLikeTotpCode(code)) return undefined;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: TOTP_PERIOD_SECONDS,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
    afterTimeStep: afterStep,
  });
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}
