import { createAccountFlows } from './account-flows.js';
import type { AuthServiceDeps } from './auth-types.js';
import { createFlowKit } from './flow-kit.js';
import { createSessionFlows } from './session-flows.js';

export type { AuthContext, AuthServiceDeps, RequestMeta, SessionView, TokenResponse } from './auth-types.js';

/**
 * The authentication flows, told as stories (account-flows.ts, session-flows.ts); every dependency
 * arrives as an argument. Routes are thin wrappers over these functions, which throw AppErrors
 * from the catalogue.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const kit = createFlowKit(deps);
  return { ...createAccountFlows(deps, kit), ...createSessionFlows(deps, kit) };
}

export type AuthService = ReturnType<typeof createAuthService>;
