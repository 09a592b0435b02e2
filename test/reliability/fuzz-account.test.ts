import { fuzzSuite } from './helpers/fuzz-harness.js';
import { accountDelete, accountExport, emailChange, emailChangeConfirm, reauthenticate } from './helpers/fuzz-endpoints.js';

/**
 * Property-based fuzzing (issue 12) of the account endpoints of issue 18 — email change and its
 * confirmation, step-up, export (a streamed JSON document), deletion — with EMAIL_VERIFICATION=required:
 * hostile bodies, headers, framing and query strings never produce a 5xx, a hang or an error that is
 * not problem+json (a stream ends as valid JSON), never change the victim user's data, never fail the
 * after-answer work, and leave /healthz at 200. Callers hold a recent token or, on the step-up routes,
 * sometimes a valid but stale one, which never passes. FUZZ_RUNS / FUZZ_TIME_LIMIT_MS scale a run,
 * FUZZ_SEED replays one (test/reliability/helpers/fuzz-harness.ts).
 */
fuzzSuite('account endpoints under hostile input', [emailChange, emailChangeConfirm, reauthenticate, accountExport, accountDelete], {
  // Step-up takes the password: the generators guess wrong most of the time, and the lockout after
  // LOGIN_MAX_FAILURES (its own tests are elsewhere) would otherwise answer every later case 429.
  env: { EMAIL_VERIFICATION: 'required', LOGIN_MAX_FAILURES: '1000' },
});
