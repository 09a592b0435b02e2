import type { AuthServiceDeps } from '../auth-types.js';
import type { FlowOutcomes } from '../flow-outcomes.js';
import type { SessionOpening } from '../session-opening.js';
import { createChallenges } from './challenges.js';
import { createPasskeyLogin } from './passkey-login.js';
import { createPasskeyManagement } from './passkey-management.js';
import { createPasskeySecondFactor } from './passkey-second-factor.js';

export { MAX_PASSKEYS_PER_USER, type PasskeyView } from './passkey-management.js';
export type { SecondFactorFlow, SecondFactorProof } from './passkey-second-factor.js';

/**
 * Passkeys (WebAuthn, docs/api.md "Passkeys"), verified by @simplewebauthn/server: registering and
 * managing them (passkey-management.ts), signing in with one alone (passkey-login.ts), and one as the
 * second factor of another flow (passkey-second-factor.ts). Every challenge lives in the one-time store,
 * bound to its flow and user, for 5 minutes, and is taken once (challenges.ts).
 */
export function createPasskeyFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, opening: SessionOpening) {
  const challenges = createChallenges(deps.oneTime);
  return {
    ...createPasskeyManagement(deps, outcomes, challenges),
    ...createPasskeyLogin(deps, outcomes, opening, challenges),
    ...createPasskeySecondFactor(deps, outcomes, challenges),
  };
}

export type PasskeyFlows = ReturnType<typeof createPasskeyFlows>;
