import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { analyze, type Check } from '../../bench/shutdown/analyze.js';
import { failedChecks, formatReport } from '../../bench/shutdown/report.js';
import { runShutdownScenario, shutdownConfigFromEnv } from '../../bench/shutdown/scenario.js';

/** One run of the shutdown scenario, judged: its must-checks that failed and its printed report. */
async function runOnce(signal: AbortSignal): Promise<{ failed: Check[]; checks: number; error?: unknown; report: string }> {
  const notes: string[] = [];
  try {
    const recording = await runShutdownScenario(shutdownConfigFromEnv(), { signal, warn: (m) => notes.push(m) });
    const analysis = analyze(recording);
    const report = [...notes, formatReport(recording, analysis, { cpus: availableParallelism() })].join('\n');
    return { failed: failedChecks(analysis), checks: analysis.checks.length, report };
  } catch (error) {
    return { failed: [], checks: 0, error, report: [...notes, String((error as Error)?.stack ?? error)].join('\n') };
  }
}

/**
 * `npm run bench:shutdown`'s invariants as a test: SIGTERM under load (GET loops, non-streaming posts,
 * 20 SSE streams, readiness polls) must fail no request written before it, destroy no accepted
 * connection with a request unread, end every stream with `shutting_down`, turn readiness 503 within
 * 100 ms and exit 0 — every `must` check of bench/shutdown/analyze.ts, on the bench's own scenario
 * (bench/shutdown/scenario.ts, which never outlives its 58 s budget). The bench re-run after the Node 26
 * move found a lost request that no other test saw (it fails every run against that drain); each
 * check's own logic is pinned by shutdown-analyze.test.ts on planted recordings.
 *
 * The scenario races real sockets against the listener's close on two shared cores, so a second run is
 * made when the first misses a check: a regression fails both (the old drain did, 5 runs of 5), while a
 * one-off miss is printed, not failed.
 */
describe('graceful shutdown under load (the shutdown bench as a test)', () => {
  it('holds every check of the shutdown bench', { timeout: 180_000 }, async (t) => {
    let run = await runOnce(t.signal);
    if (run.failed.length > 0 || run.error !== undefined) {
      t.diagnostic(
        `first run missed: ${run.failed.map((c) => `${c.name}=${String(c.detail)}`).join(', ') || String(run.error)}; running again`,
      );
      run = await runOnce(t.signal);
    }
    assert.equal(run.error, undefined, run.report.slice(-4000));
    assert.deepEqual(run.failed, [], run.report.slice(-4000));
    assert.ok(run.checks >= 10, 'the analysis lists its checks');
  });
});
