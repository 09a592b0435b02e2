import { fuzzSuite } from './helpers/fuzz-harness.js';
import { mfaVerify, recoveryCodesRegenerate, totpConfirm, totpDisable, totpEnrol } from './helpers/fuzz-endpoints.js';

/**
 * Property-based fuzzing (issue 12) of the second-factor endpoints of issue 20 — TOTP enrolment,
 * confirmation and removal, recovery codes, the second step of a login: hostile bodies, headers,
 * framing and query strings never produce a 5xx, a hang or an error that is not problem+json, never
 * change the victim user's data, and leave /healthz at 200. Step-up routes also get a valid but stale
 * token, which never passes. FUZZ_RUNS / FUZZ_TIME_LIMIT_MS scale a run, FUZZ_SEED replays one.
 */
fuzzSuite('second-factor endpoints under hostile input', [mfaVerify, totpEnrol, totpConfirm, totpDisable, recoveryCodesRegenerate], {
  // Wrong codes are the generators' usual case; the lockout (tested in mfa-brute-force.test.ts) would otherwise answer every later case 429.
  env: { LOGIN_MAX_FAILURES: '1000', MFA_ACCOUNT_MAX_FAILURES_PER_HOUR: '100' },
});
