import { createAccountFlows } from './account-flows.js';
import type { AuthServiceDeps } from './auth-types.js';
import { createFlowOutcomes } from './flow-outcomes.js';
import { createSessionFlows } from './session-flows.js';
import { createSessionOpening } from './session-opening.js';

export type { AuthContext, AuthServiceDeps, RequestMeta, SessionView, TokenResponse } from './auth-types.js';

/**
 * The authentication flows, told as stories (account-flows.ts, session-flows.ts); every dependency
 * arrives as an argument. Routes are thin wrappers over these functions, which throw AppErrors
 * from the catalogue.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const outcomes = createFlowOutcomes(deps);
  const opening = createSessionOpening(deps);
  return { ...createAccountFlows(deps, outcomes, opening), ...createSessionFlows(deps, outcomes, opening) };
}

export type AuthService = ReturnType<typeof createAuthService>;
