/**
 * npm run bench:shutdown — graceful shutdown of the real service, proven under load.
 *
 * The scenario (bench/shutdown/scenario.ts) starts the compiled service, holds SSE streams open,
 * drives GET loops, non-streaming posts and readiness polls through SIGTERM, the delay, the listener's
 * close and the process's exit, and returns a Recording (bench/shutdown/recording.ts) of what every
 * client saw (bench/shutdown/recorder.ts; streams through bench/lib/sse-client.ts) and of the server's
 * accept trace (bench/lib/shutdown-probe.cjs). analyze() (bench/shutdown/analyze.ts, pure) turns the
 * Recording into checks and figures; bench/shutdown/report.ts prints them and shapes the results file.
 *
 * Must hold (exit 1 otherwise; the list and why: analyze.ts): no failure of a request written before
 * SIGTERM; after SIGTERM nothing but served, refused, reset in the accept queue (never accepted) and
 * reset of an idle reused keep-alive socket; no connection destroyed with a request unread; every SSE
 * stream ends with `event: error` `shutting_down`; exit code 0; /readyz 503 within
 * BENCH_READY_FLIP_MAX_MS (default 100) of SIGTERM; and the run really had streams open, posts in
 * flight at SIGTERM, posts sent during the delay and refusals. Over its 58 s budget: exit 2.
 * Writes bench/results/shutdown.json (BENCH_SHUTDOWN_OUT: elsewhere). The same scenario and checks run
 * in CI as test/reliability/shutdown-under-load.test.ts; test/reliability/shutdown-analyze.test.ts
 * holds each check to a recording planted with its violation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fmt } from './lib/stats.js';
import { analyze } from './shutdown/analyze.js';
import { failedChecks, formatReport, resultsDocument } from './shutdown/report.js';
import { runShutdownScenario, ScenarioOverBudget, shutdownConfigFromEnv } from './shutdown/scenario.js';

const RESULTS_FILE = process.env.BENCH_SHUTDOWN_OUT || 'bench/results/shutdown.json';
const benchStarted = performance.now();

let code = 0;
try {
  const recording = await runShutdownScenario(shutdownConfigFromEnv());
  const analysis = analyze(recording);
  const cpus = availableParallelism();
  console.log(formatReport(recording, analysis, { cpus }));
  const failed = failedChecks(analysis).length > 0;
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  const runSeconds = Math.round((performance.now() - benchStarted) / 100) / 10;
  const document = resultsDocument(recording, analysis, { at: new Date().toISOString(), cpus, runSeconds });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(document, null, 2)}\n`);
  console.log(`\n${failed ? 'FAIL' : 'PASS'} — ${RESULTS_FILE} written (${fmt((performance.now() - benchStarted) / 1000)} s)`);
  code = failed ? 1 : 0;
} catch (err) {
  if (err instanceof ScenarioOverBudget) {
    console.error(`bench:shutdown: ${err.message}`);
    code = 2;
  } else {
    console.error(err);
    code = 1;
  }
}
process.exit(code);
