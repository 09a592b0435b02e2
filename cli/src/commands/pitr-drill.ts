import { tmpdir } from 'node:os';
import type { CliContext } from '../lib/context.js';
import { formatAge, formatBytes } from '../lib/duration.js';
import { CheckFailedError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { requirePgCtl } from '../lib/pitr/binaries.js';
import { runPitrDrill } from '../lib/pitr/drill.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { pushPitrDrill } from '../lib/pitr/pushgateway.js';
import { freeLocalPort } from '../lib/pitr/scratch.js';
import { openPitrSession } from '../lib/pitr/session.js';
import { checkPushgatewayUrl } from '../lib/pushgateway-tls.js';

/** Exit 0: the restore held exactly the expected markers; 1: it did not, or the drill could not run. */
export async function runDrill(options: Extract<PitrOptions, { action: 'drill' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const plaintextWarning = checkPushgatewayUrl(options.pushgateway, ctx.env);
  if (plaintextWarning) out.warn(plaintextWarning);
  const session = await openPitrSession(ctx, 'pitr drill');
  const pgCtl = requirePgCtl(session.server.major, ctx.env);
  // Ctrl-C or a SIGTERM from a scheduler stops the drill; it then removes its scratch cluster and markers.
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    const report = await runPitrDrill({
      liveUrl: session.liveUrl,
      live: session.server,
      pgbackrest: session.pgbackrest,
      pgCtl,
      user: session.user,
      scratchParent: options.scratchDir ?? tmpdir(),
      port: options.port ?? (await freeLocalPort()),
      markers: options.markers,
      markerIntervalMs: options.markerIntervalMs,
      timeoutMs: options.timeoutMs,
      random: options.random,
      signal: controller.signal,
      step: out.step,
    });
    if (options.pushgateway) {
      // Alerting depends on this push; a failed push is reported but does not change the drill's verdict.
      await pushPitrDrill(options.pushgateway, report).catch((err: Error) =>
        out.warn(`could not push the drill result to the Pushgateway: ${err.message}`),
      );
    }
    const rpo = report.rpoSeconds === null ? 'unknown' : formatAge(report.rpoSeconds * 1000);
    const rto = report.rtoSeconds === null ? 'n/a' : `${report.rtoSeconds}s`;
    // Under --json the report is the one document whatever the outcome: its `failures` say what broke.
    out.json(report);
    if (!report.ok) {
      throw new CheckFailedError(
        `pitr drill FAILED target=${report.target ?? 'none'} rpo=${rpo} rto=${rto}\n${report.failures.map((f) => `  - ${f}`).join('\n')}`,
      );
    }
    out.success(
      `pitr drill OK target=${report.target} markers=${report.markers.found?.length}/${report.markers.written} rpo=${rpo} rto=${rto} unarchived=${formatBytes(report.archiveLag?.unarchivedBytes ?? 0)}`,
    );
    return report;
  } finally {
    process.removeListener('SIGINT', abort);
    process.removeListener('SIGTERM', abort);
    options.signal?.removeEventListener('abort', abort);
  }
}
