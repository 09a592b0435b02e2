import type { Lifecycle } from '../../platform/lifecycle.js';

export type ReadinessCheck = () => Promise<void>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { status: 'ok' | 'fail'; error?: string; duration_ms: number }>;
}

/**
 * Runs every dependency check in parallel (each bounded by its own timeout) and reports
 * not-ready when one fails or the process is shutting down.
 */
export async function checkReadiness(
  lifecycle: Lifecycle,
  checks: Record<string, ReadinessCheck>,
): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const start = performance.now();
      try {
        await check();
        return [name, { status: 'ok' as const, duration_ms: Math.round(performance.now() - start) }] as const;
      } catch (err) {
        // Only the message: a check's error must not carry connection strings (they are not in messages we make).
        const error = err instanceof Error ? err.message.slice(0, 200) : 'check failed';
        return [name, { status: 'fail' as const, error, duration_ms: Math.round(performance.now() - start) }] as const;
      }
    }),
  );
  const report: ReadinessReport['checks'] = Object.fromEntries(entries);
  if (lifecycle.shuttingDown) report.lifecycle = { status: 'fail', error: 'shutting down', duration_ms: 0 };
  const ready = Object.values(report).every((c) => c.status === 'ok');
  return { ready, checks: report };
}
