import { createAccountFlows } from './account-flows.js';
import { createAccountLifecycleFlows } from './account-lifecycle-flows.js';
import type { AuthServiceDeps } from './auth-types.js';
import { createEmailChangeFlows } from './email-change-flows.js';
import { createFlowOutcomes } from './flow-outcomes.js';
import { createMailRequests } from './mail-requests.js';
import { createMfaFlows } from './mfa/mfa-flows.js';
import { createNewCredentials } from './new-credentials.js';
import { createRecoveryFlows } from './recovery-flows.js';
import { createSessionFlows } from './session-flows.js';
import { createSessionOpening } from './session-opening.js';
import { createVerificationFlows } from './verification-flows.js';
import { createPasskeyFlows } from './webauthn/passkey-flows.js';

export type { AuthContext, AuthServiceDeps, RequestMeta, SessionView, TokenResponse } from './auth-types.js';

/**
 * The authentication flows, told as stories (account-flows.ts, session-flows.ts, verification-flows.ts,
 * recovery-flows.ts, email-change-flows.ts, webauthn/passkey-flows.ts); every dependency arrives as an argument. Routes are thin
 * wrappers over these functions, which throw AppErrors from the catalogue.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const outcomes = createFlowOutcomes(deps);
  const opening = createSessionOpening(deps, outcomes);
  const mailRequests = createMailRequests(deps, outcomes);
  const credentials = createNewCredentials(deps, outcomes);
  const verification = createVerificationFlows(deps, outcomes, opening, mailRequests, credentials);
  const passkeys = createPasskeyFlows(deps, outcomes, opening);
  const mfa = createMfaFlows(deps, outcomes, opening, passkeys);
  return {
    ...createAccountFlows(deps, outcomes, opening, credentials, verification, mfa),
    verifyMfa: mfa.verifyMfa,
    enrolTotp: mfa.enrolTotp,
    confirmTotp: mfa.confirmTotp,
    disableTotp: mfa.disableTotp,
    regenerateRecoveryCodes: mfa.regenerateRecoveryCodes,
    reauthenticationPasskeyOptions: mfa.reauthenticationPasskeyOptions,
    ...createSessionFlows(deps, outcomes, opening),
    resendVerification: verification.resendVerification,
    verifyEmail: verification.verifyEmail,
    ...createRecoveryFlows(deps, outcomes, mailRequests, credentials),
    ...createEmailChangeFlows(deps, outcomes, mailRequests),
    ...createAccountLifecycleFlows(deps, outcomes),
    ...passkeys,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
