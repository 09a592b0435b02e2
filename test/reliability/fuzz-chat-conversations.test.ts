import { fuzzSuite } from './helpers/fuzz-harness.js';
import { conversationsCreate, conversationsDelete, conversationsGet, conversationsList, usage } from './helpers/fuzz-endpoints.js';

/**
 * Property-based fuzzing (issue 12): hostile bodies, headers, framing, ids and query strings never
 * produce a 5xx, a hang or an error that is not problem+json, never change the victim user's data,
 * and leave /healthz at 200. FUZZ_RUNS / FUZZ_TIME_LIMIT_MS scale a run, FUZZ_SEED replays one
 * (test/reliability/helpers/fuzz-harness.ts).
 */
fuzzSuite('conversation and usage endpoints under hostile input', [conversationsCreate, conversationsList, conversationsGet, conversationsDelete, usage]);
