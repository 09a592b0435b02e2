import { fuzzSuite } from './helpers/fuzz-harness.js';
import { passwordReset, passwordResetConfirm, signup, verifyEmail, verifyEmailResend } from './helpers/fuzz-endpoints.js';

/**
 * Property-based fuzzing (issue 12) of the verification and recovery endpoints (issue 18), with
 * EMAIL_VERIFICATION=required (signup answers 202 and works after its answer): hostile bodies,
 * headers, framing and query strings never produce a 5xx, a hang or an error that is not
 * problem+json, never change the victim user's data, never fail the after-answer work, and leave
 * /healthz at 200. The token endpoints also get live one-time tokens (really mailed, read from the
 * outbox), so their success paths run under the same hostile framing. FUZZ_RUNS / FUZZ_TIME_LIMIT_MS
 * scale a run, FUZZ_SEED replays one (test/reliability/helpers/fuzz-harness.ts).
 */
fuzzSuite('verification and recovery endpoints under hostile input', [signup, verifyEmail, verifyEmailResend, passwordReset, passwordResetConfirm], {
  env: { EMAIL_VERIFICATION: 'required' },
});
