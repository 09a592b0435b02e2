import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { AppError } from '../../../platform/errors.js';
import type { AuthServiceDeps, RequestMeta } from '../auth-types.js';
import type { FlowOutcomes } from '../flow-outcomes.js';
import { keyAmr, verifyAssertion } from './assertion.js';
import { CHALLENGE_TTL_SECONDS, type Challenges, claimedChallenge } from './challenges.js';

/** Where a passkey serves as a proof for a user already known: the MFA step after a password, or a step-up. */
export type SecondFactorFlow = 'mfa' | 'reauth';

export interface SecondFactorProof {
  /** The passkey's id (webauthn_credentials.id, as listed by GET /v1/auth/webauthn/credentials). */
  credentialId: string;
  /**
   * What the passkey proved (RFC 8176): `hwk` or `swk`, plus `user` when the authenticator verified the
   * user. The caller adds what the rest of its flow proved (`pwd`, and `mfa` for the MFA step).
   */
  amr: string[];
}

function invalidCode(): AppError {
  return new AppError('invalid_code', { detail: 'The passkey could not be verified. Ask for new options and try again.' });
}

/**
 * A passkey as the second factor of `POST /v1/auth/mfa/verify {mfa_token, webauthn}`, or as the proof of
 * `POST /v1/auth/reauthenticate {webauthn}`. The challenge is bound to the flow and the user: one issued
 * for the MFA step of one account is refused for another account and for a step-up. The MFA step asks
 * for user verification only as `preferred` (a password came first); a step-up requires it, since the
 * passkey is then the only factor presented.
 */
export function createPasskeySecondFactor(
  deps: Pick<AuthServiceDeps, 'passkeys' | 'webauthn' | 'clock'>,
  outcomes: FlowOutcomes,
  challenges: Challenges,
) {
  const { passkeys, webauthn, clock } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const requireUserVerification = (flow: SecondFactorFlow) => flow === 'reauth';

  return {
    async passkeySecondFactorOptions(userId: string, flow: SecondFactorFlow = 'mfa'): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const own = await passkeys.listForUser(userId);
      const options = await generateAuthenticationOptions({
        rpID: webauthn.rpId,
        allowCredentials: own.map((c) => ({ id: c.credential_id, transports: c.transports })),
        userVerification: requireUserVerification(flow) ? 'required' : 'preferred',
        timeout: CHALLENGE_TTL_SECONDS * 1000,
      });
      await challenges.issue(flow, userId, options.challenge);
      return options;
    },

    /**
     * The passkey assertion `response` of `userId`, answering a challenge issued for `flow` and that
     * user (taken once). Throws 400 `invalid_code` on any failure; counts it as
     * auth_fail_total{flow="passkey_<flow>"}. `meta`, when given, lets a counter regression be audited.
     */
    async verifyPasskeySecondFactor(
      userId: string,
      response: AuthenticationResponseJSON,
      flow: SecondFactorFlow,
      meta?: RequestMeta,
    ): Promise<SecondFactorProof> {
      const metricFlow = `passkey_${flow}`;
      const refused = (reason: string) => {
        fail(metricFlow, reason);
        return invalidCode();
      };
      const challenge = claimedChallenge(response.response.clientDataJSON);
      if (challenge === undefined) throw refused('malformed_response');
      if (!(await challenges.take(flow, userId, challenge))) throw refused('unknown_challenge');
      const passkey = await passkeys.findByCredentialId(response.id);
      if (!passkey || passkey.user_id !== userId) throw refused('unknown_credential');
      const outcome = await verifyAssertion(webauthn, passkey, response, challenge, requireUserVerification(flow));
      const regression = async () => {
        if (meta) {
          await auditEvent(meta, { type: 'passkey_counter_regression', userId, details: { credential_id: passkey.id, stored_sign_count: passkey.sign_count, flow } });
        }
        return refused('counter_regression');
      };
      if (!outcome.ok) throw outcome.reason === 'counter_regression' ? await regression() : refused(outcome.reason);
      if (!(await passkeys.recordUse(passkey.id, { signCount: outcome.newCounter, backedUp: outcome.backedUp, at: clock.now() }))) throw await regression();
      succeed(metricFlow);
      return { credentialId: passkey.id, amr: [keyAmr(passkey, outcome), ...(outcome.userVerified ? ['user'] : [])] };
    },
  };
}
