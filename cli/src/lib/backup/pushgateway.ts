/**
 * Publishes a restore drill's outcome to a Prometheus Pushgateway, where the alerts
 * RampartBackupDrillStale and RampartBackupDrillFailing read it (a CronJob's process ends before
 * any scrape, so it pushes). POST, not PUT: a failed drill updates `last_result` (and the RTO/RPO)
 * but leaves `last_success_timestamp_seconds` at the last drill that passed, so staleness is still
 * measured from the last good one.
 */
export interface DrillOutcome {
  ok: boolean;
  finishedAt: string;
  rtoSeconds: number | null;
  rpoSeconds: number;
  /**
   * The highest sequence among the verified backups of the directory. Deleting the newest backups
   * cannot be seen in the storage itself; a decrease of this gauge shows it (RampartBackupSequenceDecreased).
   */
  latestSequence?: number;
}

export function drillMetricsText(outcome: DrillOutcome): string {
  const lines = [
    '# HELP rampart_backup_drill_last_result 1 when the last restore drill passed, 0 when it failed.',
    '# TYPE rampart_backup_drill_last_result gauge',
    `rampart_backup_drill_last_result ${outcome.ok ? 1 : 0}`,
    '# HELP rampart_backup_drill_rpo_seconds Age of the backup the last drill restored.',
    '# TYPE rampart_backup_drill_rpo_seconds gauge',
    `rampart_backup_drill_rpo_seconds ${outcome.rpoSeconds}`,
  ];
  if (outcome.latestSequence !== undefined) {
    lines.push(
      '# HELP rampart_backup_latest_sequence Highest sequence number among the verified (signed) backups the drill found.',
      '# TYPE rampart_backup_latest_sequence gauge',
      `rampart_backup_latest_sequence ${outcome.latestSequence}`,
    );
  }
  if (outcome.rtoSeconds !== null) {
    lines.push(
      '# HELP rampart_backup_drill_rto_seconds Time from drill start to a verified restore.',
      '# TYPE rampart_backup_drill_rto_seconds gauge',
      `rampart_backup_drill_rto_seconds ${outcome.rtoSeconds}`,
    );
  }
  if (outcome.ok) {
    lines.push(
      '# HELP rampart_backup_drill_last_success_timestamp_seconds When the last passing drill finished (Unix time).',
      '# TYPE rampart_backup_drill_last_success_timestamp_seconds gauge',
      `rampart_backup_drill_last_success_timestamp_seconds ${Math.floor(Date.parse(outcome.finishedAt) / 1000)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** POSTs the drill metrics under job="rampart_backup_drill"; throws on a non-2xx answer or a timeout. */
export async function pushDrillMetrics(baseUrl: string, outcome: DrillOutcome, timeoutMs = 10_000): Promise<void> {
  const url = `${baseUrl.replace(/\/+$/, '')}/metrics/job/rampart_backup_drill`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; version=0.0.4' },
    body: drillMetricsText(outcome),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`the Pushgateway answered HTTP ${res.status}`);
}
