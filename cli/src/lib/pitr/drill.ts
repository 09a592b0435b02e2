import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchiveLag } from './archiver.js';
import { archiveLag, sampleArchiver } from './archiver.js';
import type { OsUser } from './exec.js';
import { parseStanzaInfo } from './info.js';
import {
  deleteMarkers,
  ensureMarkerTable,
  formatTargetTime,
  type Marker,
  markersIn,
  pickRestorePoint,
  writeMarker,
} from './markers.js';
import type { PgBackRest } from './pgbackrest.js';
import { restoreScratch, type ScratchCluster } from './scratch.js';
import { switchAndWaitArchived, withLive } from './server.js';
import { outsideWindow, type RecoverabilityWindow, recoverabilityWindow } from './window.js';

/**
 * The point-in-time recovery drill: write numbered marker rows into the live database, make sure
 * their WAL is archived, pick a random second between two markers, restore the repository to it in a
 * scratch cluster, and prove that exactly the markers committed by then are there — none later. It
 * measures the RPO (the archive lag while it wrote) and the RTO (restore + WAL replay), and removes
 * the scratch cluster and its markers whatever happens.
 */
export interface PitrDrillOptions {
  liveUrl: string;
  live: { dataDirectory: string; port: number };
  pgbackrest: PgBackRest;
  pgCtl: string;
  user: OsUser | undefined;
  /** Parent directory of the scratch cluster (a fresh subdirectory is made and removed). */
  scratchParent: string;
  port: number;
  markers: number;
  markerIntervalMs: number;
  timeoutMs: number;
  random?: () => number;
  signal?: AbortSignal;
  now?: () => Date;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

export interface PitrDrillReport {
  ok: boolean;
  drillId: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  target: string | null;
  markers: { written: number; expected: number[]; found: number[] | null };
  /** The worst archive lag seen while the markers were written: what a loss of the server then would have cost. */
  rpoSeconds: number | null;
  archiveLag: ArchiveLag | null;
  /** Restore start → the scratch copy out of recovery at the target. */
  rtoSeconds: number | null;
  timings: { markersMs: number; archiveMs: number; restoreMs: number; recoveryMs: number; verifyMs: number };
  window: RecoverabilityWindow | null;
  scratchRemoved: boolean;
  failures: string[];
}

/** The pause between markers (they must be apart in time for a point between them); Ctrl-C ends it. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runPitrDrill(options: PitrDrillOptions): Promise<PitrDrillReport> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const drillId = `${started.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
  const report: PitrDrillReport = {
    ok: false,
    drillId,
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    durationSeconds: 0,
    target: null,
    markers: { written: 0, expected: [], found: null },
    rpoSeconds: null,
    archiveLag: null,
    rtoSeconds: null,
    timings: { markersMs: 0, archiveMs: 0, restoreMs: 0, recoveryMs: 0, verifyMs: 0 },
    window: null,
    scratchRemoved: true,
    failures: [],
  };
  let scratch: ScratchCluster | undefined;
  let scratchRoot: string | undefined;
  let wroteMarkers = false;
  try {
    if (options.markers < 2) throw new Error('the drill needs at least two markers (a point between them is restored)');
    // pgbackrest reports a backup's stop time in whole seconds, truncated: a drill started right after a
    // backup could pick a moment in that second before the backup really ended, which cannot be
    // restored ("unable to find backup set with stop time less than …"). Markers start after it.
    const before = parseStanzaInfo(
      await options.pgbackrest.run('info', ['--output=json'], { timeoutMs: 60_000 }),
      options.pgbackrest.stanza,
    );
    const newestStop = Math.max(0, ...before.backups.map((b) => Date.parse(b.stoppedAt)));
    const settle = newestStop + 1000 - Date.now();
    if (settle > 0) await pause(Math.min(settle, 1000), options.signal);
    let t = performance.now();
    const markers = await options.step(`Writing ${options.markers} marker rows ${options.markerIntervalMs} ms apart`, () =>
      withLive(options.liveUrl, async (client) => {
        await ensureMarkerTable(client);
        const written: Marker[] = [];
        const lags: ArchiveLag[] = [];
        for (let seq = 1; seq <= options.markers; seq++) {
          if (seq > 1) await pause(options.markerIntervalMs, options.signal);
          lags.push(archiveLag(await sampleArchiver(client)));
          wroteMarkers = true;
          written.push(await writeMarker(client, drillId, seq));
        }
        const worst = lags.reduce<ArchiveLag | null>(
          (w, l) => (w === null || (l.lagSeconds ?? Infinity) > (w.lagSeconds ?? Infinity) ? l : w),
          null,
        );
        report.archiveLag = worst;
        report.rpoSeconds = worst?.lagSeconds ?? null;
        return written;
      }),
    );
    report.markers.written = markers.length;
    report.timings.markersMs = Math.round(performance.now() - t);

    t = performance.now();
    await options.step('Switching WAL and waiting for the archive', () =>
      withLive(options.liveUrl, (client) => switchAndWaitArchived(client, options.timeoutMs, options.signal)),
    );
    report.timings.archiveMs = Math.round(performance.now() - t);

    const info = parseStanzaInfo(
      await options.pgbackrest.run('info', ['--output=json'], { timeoutMs: 60_000 }),
      options.pgbackrest.stanza,
    );
    const sample = await withLive(options.liveUrl, sampleArchiver);
    report.window = recoverabilityWindow(info, sample);
    const point = pickRestorePoint(markers, options.random ?? Math.random);
    report.target = formatTargetTime(point.targetUs);
    report.markers.expected = point.expected;
    const outside = outsideWindow(report.window, new Date(Math.floor(point.targetUs / 1000)));
    if (outside) throw new Error(`the restore point is outside the recoverability window: ${outside}`);

    scratchRoot = mkdtempSync(join(options.scratchParent, 'rampart-pitr-drill-'));
    const restoreStarted = performance.now();
    scratch = await restoreScratch({
      pgbackrest: options.pgbackrest,
      pgCtl: options.pgCtl,
      user: options.user,
      dir: scratchRoot,
      port: options.port,
      live: { ...options.live, url: options.liveUrl },
      target: { kind: 'time', time: report.target },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      step: options.step,
    });
    report.timings.restoreMs = scratch.restoreMs;
    report.timings.recoveryMs = scratch.recoveryMs;
    report.rtoSeconds = Math.round((performance.now() - restoreStarted) / 100) / 10;

    t = performance.now();
    const found = await options.step('Looking for the markers in the restored copy', () =>
      withLive((scratch as ScratchCluster).url, (client) => markersIn(client, drillId)),
    );
    report.markers.found = found;
    report.timings.verifyMs = Math.round(performance.now() - t);
    const missing = point.expected.filter((s) => !found.includes(s));
    const extra = found.filter((s) => !point.expected.includes(s));
    if (missing.length > 0)
      report.failures.push(`markers committed before ${report.target} are missing from the restore: ${missing.join(', ')}`);
    if (extra.length > 0)
      report.failures.push(`markers committed after ${report.target} are in the restore: ${extra.join(', ')}`);
  } catch (err) {
    report.failures.push(options.signal?.aborted ? 'interrupted (SIGINT/SIGTERM)' : (err as Error).message);
  } finally {
    if (scratch) {
      await scratch.dispose();
    }
    if (scratchRoot) {
      try {
        rmdirSync(scratchRoot);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          report.scratchRemoved = false;
          report.failures.push(`could not remove the scratch directory ${scratchRoot}: ${(err as Error).message}`);
        }
      }
    }
    if (wroteMarkers) {
      await withLive(options.liveUrl, (client) => deleteMarkers(client, drillId)).catch((err: Error) =>
        report.failures.push(`could not delete the drill's markers (drill_id ${drillId}): ${err.message}`),
      );
    }
  }
  report.finishedAt = now().toISOString();
  report.durationSeconds = Math.round((performance.now() - t0) / 100) / 10;
  report.ok = report.failures.length === 0;
  return report;
}
