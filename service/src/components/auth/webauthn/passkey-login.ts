import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { AppError } from '../../../platform/errors.js';
import type { AuthServiceDeps, RequestMeta, TokenResponse } from '../auth-types.js';
import { looksLikeDeviceToken } from '../device-tokens.js';
import { normalizeEmail } from '../email.js';
import type { FlowOutcomes } from '../flow-outcomes.js';
import type { SessionOpening } from '../session-opening.js';
import { toPublicUser } from '../users-repo.js';
import { keyAmr, verifyAssertion } from './assertion.js';
import { CHALLENGE_TTL_SECONDS, type Challenges, claimedChallenge, type LoginChallengeContext } from './challenges.js';
import { userHandle } from './passkey-management.js';

/** One answer for every refused passkey sign-in: unknown credential, bad signature, wrong origin or RP ID, a spent challenge. */
function passkeyRefused(): AppError {
  return new AppError('invalid_credentials', { detail: 'The passkey could not be verified. Ask for new options and try again.' });
}

/** Passkey sign-in (docs/api.md, "Passkeys"): options for a named account or for discoverable credentials, then the assertion. */
export function createPasskeyLogin(
  deps: Pick<AuthServiceDeps, 'users' | 'passkeys' | 'webauthn' | 'clock' | 'devices' | 'accounts' | 'emailKey'>,
  outcomes: FlowOutcomes,
  opening: SessionOpening,
  challenges: Challenges,
) {
  const { users, passkeys, webauthn, clock, devices, accounts } = deps;
  const { fail, succeed, auditEvent } = outcomes;

  /**
   * Credential ids for an address with no passkey (or no account): derived from the address under
   * AUDIT_HASH_KEY, so the same address always gets the same ones and nobody without the key can tell
   * them from real ones. The options then do not say whether the address has an account.
   */
  function decoyCredentials(address: string) {
    const id = Buffer.from(deps.emailKey(`webauthn-decoy:${address}`), 'hex').toString('base64url');
    return [{ id, transports: ['hybrid', 'internal'] }];
  }

  return {
    async passkeyLoginOptions(input: { email?: string }): Promise<PublicKeyCredentialRequestOptionsJSON> {
      let allowCredentials: { id: string; transports: string[] }[] = [];
      const context: LoginChallengeContext = { userId: null };
      if (input.email !== undefined) {
        const email = normalizeEmail(input.email);
        const address = email.ok ? email.email : input.email.trim().toLowerCase().slice(0, 320);
        const user = email.ok ? await users.findByEmail(email.email) : undefined;
        // The same queries whether or not the account exists (the nil UUID finds nothing).
        const own = await passkeys.listForUser(user?.id ?? '00000000-0000-0000-0000-000000000000');
        context.userId = user?.id ?? null;
        allowCredentials = own.length > 0 ? own.map((c) => ({ id: c.credential_id, transports: c.transports })) : decoyCredentials(address);
      }
      const options = await generateAuthenticationOptions({
        rpID: webauthn.rpId,
        allowCredentials,
        userVerification: 'required',
        timeout: CHALLENGE_TTL_SECONDS * 1000,
      });
      await challenges.issue('login', null, options.challenge, context);
      return options;
    },

    /**
     * Sign-in with a passkey alone: a discoverable credential with user verification is possession and
     * a PIN or biometric, so the session's amr is the key (`hwk`, or `swk` when synced), `user` and `mfa`.
     */
    async passkeyLogin(input: { response: AuthenticationResponseJSON; device_token?: string }, meta: RequestMeta): Promise<TokenResponse> {
      const refused = async (reason: string, userId: string | null = null, details: Record<string, unknown> = {}) => {
        fail('passkey_login', reason);
        await auditEvent(meta, { type: 'passkey_login_failed', userId, details: { reason, ...details } });
        return passkeyRefused();
      };
      const { response } = input;
      const challenge = claimedChallenge(response.response.clientDataJSON);
      if (challenge === undefined) throw await refused('malformed_response');
      // Taken before anything else: a challenge serves one attempt, whatever its outcome.
      const context = await challenges.take<LoginChallengeContext>('login', null, challenge);
      if (!context) throw await refused('unknown_challenge');
      const passkey = await passkeys.findByCredentialId(response.id);
      if (!passkey) throw await refused('unknown_credential');
      const details = { credential_id: passkey.id };
      if (context.userId !== null && context.userId !== passkey.user_id) throw await refused('credential_not_allowed', passkey.user_id, details);
      if (response.response.userHandle !== undefined && response.response.userHandle !== Buffer.from(userHandle(passkey.user_id)).toString('base64url')) {
        throw await refused('user_handle_mismatch', passkey.user_id, details);
      }
      const outcome = await verifyAssertion(webauthn, passkey, response, challenge, true);
      if (!outcome.ok) {
        if (outcome.reason === 'counter_regression') await counterRegression(meta, passkey.user_id, passkey.id, passkey.sign_count);
        throw await refused(outcome.reason, passkey.user_id, details);
      }
      const user = await users.findById(passkey.user_id);
      if (!user) throw await refused('unknown_credential');
      if (!(await passkeys.recordUse(passkey.id, { signCount: outcome.newCounter, backedUp: outcome.backedUp, at: clock.now() }))) {
        // Another sign-in with this key recorded the same or a higher counter in the meantime.
        await counterRegression(meta, user.id, passkey.id, passkey.sign_count);
        throw await refused('counter_regression', user.id, details);
      }
      // As with a password: only after the factor checked out is a disabled or unverified account revealed.
      if (user.disabled_at !== null) {
        fail('passkey_login', 'account_disabled');
        await auditEvent(meta, { type: 'passkey_login_failed', userId: user.id, email: user.email, details: { reason: 'account_disabled', ...details } });
        throw new AppError('account_disabled', { detail: 'This account is disabled. Contact support.' });
      }
      if (accounts.emailVerification === 'required' && user.email_verified_at === null) {
        fail('passkey_login', 'email_not_verified');
        await auditEvent(meta, { type: 'passkey_login_failed', userId: user.id, email: user.email, details: { reason: 'email_not_verified', ...details } });
        throw new AppError('email_not_verified', {
          detail: 'Confirm your email address first: follow the link we sent, or ask for a new one (POST /v1/auth/verify-email/resend).',
        });
      }
      const amr = [keyAmr(passkey, outcome), 'user', 'mfa'];
      // Opened only while the password hash read above is still the account's (a racing password change wins).
      const session = await opening.openSession(user.id, user.password_hash, meta, undefined, amr);
      if (!session) throw await refused('password_changed', user.id, details);
      succeed('passkey_login');
      await opening.evictBeyondLimit(user.id, meta);
      const deviceId = looksLikeDeviceToken(input.device_token) ? await devices.recognise(user.id, input.device_token, clock.now()) : undefined;
      const deviceToken = deviceId ? (input.device_token as string) : await devices.issue(user.id, clock.now());
      await auditEvent(meta, {
        type: 'login_succeeded',
        userId: user.id,
        email: user.email,
        details: { session_id: session.sessionId, method: 'passkey', amr, known_device: deviceId !== undefined, ...details },
      });
      const tokens = await opening.tokenResponse(toPublicUser(user), session.sessionId, session.refreshToken, session.authentication);
      return { ...tokens, device_token: deviceToken };
    },
  };

  async function counterRegression(meta: RequestMeta, userId: string, credentialId: string, storedCount: number): Promise<void> {
    // A signature by the real key with a counter that did not grow: the key may have been cloned.
    await auditEvent(meta, { type: 'passkey_counter_regression', userId, details: { credential_id: credentialId, stored_sign_count: storedCount } });
  }
}
