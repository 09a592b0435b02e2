import type { Lifecycle } from '../../platform/lifecycle.js';

export type ReadinessCheck = () => Promise<void>;

/** What the public sees of a check: its state, nothing more. */
export type CheckState = 'ok' | 'failing';

/** Why a check failed: for the log only, never for the response. */
export interface CheckFailure {
  check: string;
  error: string;
  duration_ms: number;
}

export interface ReadinessReport {
  ready: boolean;
  /** Every check by name, with `lifecycle` failing while the process shuts down. */
  checks: Record<string, CheckState>;
  /** The dependency checks that failed, with their error text. */
  failures: CheckFailure[];
}

/**
 * Runs every dependency check in parallel (each bounded by its own timeout) and reports
 * not-ready when one fails or the process is shutting down.
 */
export async function checkReadiness(
  lifecycle: Lifecycle,
  checks: Record<string, ReadinessCheck>,
): Promise<ReadinessReport> {
  const failures: CheckFailure[] = [];
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckState]> => {
      const start = performance.now();
      try {
        await check();
        return [name, 'ok'];
      } catch (err) {
        failures.push({ check: name, error: errorText(err), duration_ms: Math.round(performance.now() - start) });
        return [name, 'failing'];
      }
    }),
  );
  const states: Record<string, CheckState> = Object.fromEntries(entries);
  if (lifecycle.shuttingDown) states.lifecycle = 'failing';
  const ready = Object.values(states).every((s) => s === 'ok');
  return { ready, checks: states, failures };
}

/** The error's message (an AggregateError's — e.g. every address of a host refused — has the parts'). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 500);
  const parts = err instanceof AggregateError && err.errors.length > 0 ? err.errors.map((e) => errorText(e)) : [];
  const text = [err.message, ...parts].filter((p) => p !== '').join('; ') || err.name;
  return text.slice(0, 500);
}
