import type { CliContext } from '../lib/context.js';
import { formatAge, formatBytes } from '../lib/duration.js';
import { CheckFailedError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { archiveLag, sampleArchiver } from '../lib/pitr/archiver.js';
import { parseStanzaInfo } from '../lib/pitr/info.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { pushArchiveState } from '../lib/pitr/pushgateway.js';
import { withLive } from '../lib/pitr/server.js';
import { openPitrSession } from '../lib/pitr/session.js';
import { recoverabilityWindow } from '../lib/pitr/window.js';
import { checkPushgatewayUrl } from '../lib/pushgateway-tls.js';

/** Exit 0: archiving works and a window exists; 1: archiving fails or nothing is recoverable yet. */
export async function runStatus(options: Extract<PitrOptions, { action: 'status' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const plaintextWarning = checkPushgatewayUrl(options.pushgateway, ctx.env);
  if (plaintextWarning) out.warn(plaintextWarning);
  const { pgbackrest, liveUrl } = await openPitrSession(ctx, 'pitr status');
  const info = parseStanzaInfo(await pgbackrest.run('info', ['--output=json'], { timeoutMs: 60_000 }), pgbackrest.stanza);
  const sample = await withLive(liveUrl, sampleArchiver);
  const lag = archiveLag(sample);
  const window = recoverabilityWindow(info, sample);
  const status = {
    stanza: info.stanza,
    pgbackrest: info.status,
    archiver: sample,
    lag,
    window,
    backups: info.backups,
  };
  if (options.pushgateway) {
    await pushArchiveState(options.pushgateway, {
      sampledAt: sample.now,
      lastArchivedAt: sample.lastArchivedAt,
      lag,
      window,
    }).catch((err: Error) => out.warn(`could not push the archive state to the Pushgateway: ${err.message}`));
  }
  out.json(status);
  out.line(
    `Last archived: ${sample.lastArchivedWal ?? 'nothing yet'}${lag.secondsSinceLastArchive === null ? '' : ` ${formatAge(lag.secondsSinceLastArchive * 1000)} ago`} (${sample.archivedCount} archived, ${sample.failedCount} failed)`,
  );
  out.line(
    `Archive lag: ${lag.lagSeconds === null ? 'unknown' : formatAge(lag.lagSeconds * 1000)}, ${lag.unarchivedBytes === null ? '?' : formatBytes(lag.unarchivedBytes)} not archived (${lag.pendingSegments ?? '?'} complete segments waiting)`,
  );
  out.line(
    window
      ? `Recoverable: ${window.from} → ${window.to} (${formatAge(window.seconds * 1000)}, ${window.backups} backups)`
      : 'Recoverable: nothing yet',
  );
  const problems: string[] = [];
  if (lag.failing) problems.push(`archiving is failing: ${sample.lastFailedWal} at ${sample.lastFailedAt} (see the server log)`);
  if (!window) problems.push('no recoverability window: no full backup, or no WAL archived yet');
  if (problems.length > 0) throw new CheckFailedError(`pitr status: ${problems.join('; ')}`);
  out.success('WAL archiving works and the database is recoverable to a point in time');
  return status;
}
