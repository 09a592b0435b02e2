import { type AuthenticationResponseJSON, SimpleWebAuthnError, verifyAuthenticationResponse } from '@simplewebauthn/server';
import type { PasskeyRow } from './credentials-repo.js';

export interface RelyingParty {
  rpId: string;
  rpName: string;
  /** Origins a response may come from (WEBAUTHN_ORIGINS). */
  origins: readonly string[];
}

/** Why an assertion was refused: for the audit trail and the metrics, never for the client. */
export type AssertionFailure = 'wrong_origin' | 'wrong_rp_id' | 'user_not_verified' | 'bad_signature' | 'counter_regression' | 'malformed_response';

export type AssertionOutcome =
  | { ok: true; newCounter: number; backedUp: boolean; multiDevice: boolean; userVerified: boolean }
  | { ok: false; reason: AssertionFailure };

export function classifyFailure(err: unknown): AssertionFailure {
  if (err instanceof SimpleWebAuthnError) {
    if (err.code === 'UNEXPECTED_ORIGIN') return 'wrong_origin';
    if (err.code === 'UNEXPECTED_RP_ID') return 'wrong_rp_id';
  }
  if (err instanceof Error && /user verification|user not present/i.test(err.message)) return 'user_not_verified';
  return 'malformed_response';
}

/**
 * An assertion (navigator.credentials.get) checked by @simplewebauthn/server against `passkey` and the
 * challenge the caller took from the store. The library is given counter 0 so that it never refuses a
 * counter before the signature is checked: a regression is judged here, after a valid signature, so
 * only the real authenticator's signature (a clone's) can raise `counter_regression`. The stored
 * counter must grow unless both are 0 (authenticators that do not count, such as synced passkeys).
 */
export async function verifyAssertion(
  rp: RelyingParty,
  passkey: PasskeyRow,
  response: AuthenticationResponseJSON,
  expectedChallenge: string,
  requireUserVerification: boolean,
): Promise<AssertionOutcome> {
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.rpId,
      credential: { id: passkey.credential_id, publicKey: new Uint8Array(passkey.public_key), counter: 0, transports: passkey.transports },
      requireUserVerification,
    });
  } catch (err) {
    return { ok: false, reason: classifyFailure(err) };
  }
  if (!verified.verified) return { ok: false, reason: 'bad_signature' };
  const info = verified.authenticationInfo;
  const stored = passkey.sign_count;
  if ((info.newCounter !== 0 || stored !== 0) && info.newCounter <= stored) return { ok: false, reason: 'counter_regression' };
  return {
    ok: true,
    newCounter: info.newCounter,
    backedUp: info.credentialBackedUp,
    multiDevice: info.credentialDeviceType === 'multiDevice',
    userVerified: info.userVerified,
  };
}

/** RFC 8176: `hwk` for a key bound to one device, `swk` for one that is synced (backed up or multi-device). */
export function keyAmr(passkey: Pick<PasskeyRow, 'device_type' | 'backed_up'>, outcome: { backedUp: boolean; multiDevice: boolean }): 'hwk' | 'swk' {
  return outcome.backedUp || outcome.multiDevice || passkey.backed_up || passkey.device_type === 'multiDevice' ? 'swk' : 'hwk';
}
