import type { ArchiveLag } from './archiver.js';
import type { RecoverabilityWindow } from './window.js';

/**
 * PITR metrics for the Pushgateway, read by the alerts RampartWalArchivingStalled,
 * RampartPitrWindowShort and RampartPitrDrillFailing. `secops pitr status --pushgateway` (a CronJob
 * every few minutes) PUTs the archive state under job rampart_pitr_status; `secops pitr drill` POSTs
 * its outcome under job rampart_pitr_drill, so a failed drill keeps the last success time.
 */
export interface ArchiveState {
  sampledAt: string;
  lastArchivedAt: string | null;
  lag: ArchiveLag;
  window: RecoverabilityWindow | null;
}

export interface PitrDrillOutcome {
  ok: boolean;
  finishedAt: string;
  durationSeconds: number;
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  archiveLag: Pick<ArchiveLag, 'unarchivedBytes'> | null;
  window: Pick<RecoverabilityWindow, 'seconds' | 'to'> | null;
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function gauge(lines: string[], name: string, help: string, value: number | null): void {
  if (value === null) return;
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
}

export function archiveMetricsText(state: ArchiveState): string {
  const lines: string[] = [];
  gauge(
    lines,
    'rampart_pitr_status_timestamp_seconds',
    'When secops pitr status sampled the archiver (Unix time).',
    seconds(state.sampledAt),
  );
  gauge(
    lines,
    'rampart_pitr_last_archive_timestamp_seconds',
    'When the server last archived a WAL file successfully (pg_stat_archiver.last_archived_time).',
    state.lastArchivedAt === null ? null : seconds(state.lastArchivedAt),
  );
  gauge(
    lines,
    'rampart_pitr_archive_lag_seconds',
    'Seconds since the last archive while WAL waits to be archived (0 when none waits).',
    state.lag.lagSeconds,
  );
  gauge(
    lines,
    'rampart_pitr_unarchived_bytes',
    'WAL written but not yet in the pgBackRest repository.',
    state.lag.unarchivedBytes,
  );
  gauge(lines, 'rampart_pitr_archive_failing', '1 when the newest archive attempt failed.', state.lag.failing ? 1 : 0);
  gauge(
    lines,
    'rampart_pitr_window_seconds',
    'Recoverability window: oldest backup end to newest archived WAL.',
    state.window?.seconds ?? 0,
  );
  return `${lines.join('\n')}\n`;
}

export function drillMetricsText(outcome: PitrDrillOutcome): string {
  const lines: string[] = [];
  gauge(lines, 'rampart_pitr_drill_last_result', '1 when the last PITR drill passed, 0 when it failed.', outcome.ok ? 1 : 0);
  gauge(lines, 'rampart_pitr_drill_duration_seconds', 'How long the last PITR drill ran.', outcome.durationSeconds);
  gauge(lines, 'rampart_pitr_drill_rto_seconds', 'Restore + WAL replay time of the last PITR drill.', outcome.rtoSeconds);
  gauge(lines, 'rampart_pitr_drill_rpo_seconds', 'Archive lag while the last PITR drill wrote its markers.', outcome.rpoSeconds);
  // The archive state the drill saw, under drill-only names: a weekly sample must not stand in for the
  // status job's fresh ones in the archiving alerts (a Pushgateway keeps a group until replaced).
  gauge(
    lines,
    'rampart_pitr_drill_unarchived_bytes',
    'WAL not yet archived while the last PITR drill wrote its markers.',
    outcome.archiveLag?.unarchivedBytes ?? null,
  );
  gauge(
    lines,
    'rampart_pitr_drill_window_seconds',
    'Recoverability window the last PITR drill saw.',
    outcome.window?.seconds ?? null,
  );
  gauge(
    lines,
    'rampart_pitr_drill_last_archive_timestamp_seconds',
    'Newest archived WAL the last PITR drill saw (Unix time).',
    outcome.window ? seconds(outcome.window.to) : null,
  );
  if (outcome.ok) {
    gauge(
      lines,
      'rampart_pitr_drill_last_success_timestamp_seconds',
      'When the last passing PITR drill finished (Unix time).',
      seconds(outcome.finishedAt),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function push(baseUrl: string, job: string, method: 'PUT' | 'POST', body: string, timeoutMs: number): Promise<void> {
  const res = await fetch(`${baseUrl.replace(/\/+$/, '')}/metrics/job/${job}`, {
    method,
    headers: { 'content-type': 'text/plain; version=0.0.4' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`the Pushgateway answered HTTP ${res.status}`);
}

export const pushArchiveState = (baseUrl: string, state: ArchiveState, timeoutMs = 10_000) =>
  push(baseUrl, 'rampart_pitr_status', 'PUT', archiveMetricsText(state), timeoutMs);

export const pushPitrDrill = (baseUrl: string, outcome: PitrDrillOutcome, timeoutMs = 10_000) =>
  push(baseUrl, 'rampart_pitr_drill', 'POST', drillMetricsText(outcome), timeoutMs);
