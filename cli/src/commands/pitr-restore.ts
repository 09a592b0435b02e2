import type { CliContext } from '../lib/context.js';
import { formatAge } from '../lib/duration.js';
import { CheckFailedError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { sampleArchiver } from '../lib/pitr/archiver.js';
import { requirePgCtl } from '../lib/pitr/binaries.js';
import { parseStanzaInfo } from '../lib/pitr/info.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { freeLocalPort, refuseLiveTarget, restoreScratch } from '../lib/pitr/scratch.js';
import { withLive } from '../lib/pitr/server.js';
import { openPitrSession } from '../lib/pitr/session.js';
import { targetDate } from '../lib/pitr/target-time.js';
import { outsideWindow, recoverabilityWindow } from '../lib/pitr/window.js';

/**
 * Restores the repository to a moment (or to the newest archived WAL) into a scratch cluster, never the
 * live one, and leaves it running for the operator to inspect or pg_dump from.
 */
export async function runRestore(options: Extract<PitrOptions, { action: 'restore' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const session = await openPitrSession(ctx, 'pitr restore');
  const port = options.port ?? (await freeLocalPort());
  refuseLiveTarget(options.targetDir, port, session.server);
  const pgCtl = requirePgCtl(session.server.major, ctx.env);
  const info = parseStanzaInfo(
    await session.pgbackrest.run('info', ['--output=json'], { timeoutMs: 60_000 }),
    session.pgbackrest.stanza,
  );
  const window = recoverabilityWindow(info, await withLive(session.liveUrl, sampleArchiver));
  if (options.to.kind === 'time') {
    const outside = outsideWindow(window, targetDate(options.to.time));
    if (outside) throw new CheckFailedError(`cannot restore to that point: ${outside}`);
  } else if (!window) {
    throw new CheckFailedError('cannot restore: there is no backup with archived WAL yet (`secops pitr backup --type full`)');
  }
  const started = performance.now();
  const scratch = await restoreScratch({
    pgbackrest: session.pgbackrest,
    pgCtl,
    user: session.user,
    dir: options.targetDir,
    port,
    live: { ...session.server, url: session.liveUrl },
    target: options.to,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    step: out.step,
  });
  const result = {
    target: options.to.kind === 'time' ? options.to.time : 'latest',
    dataDir: scratch.dataDir,
    socketDir: scratch.socketDir,
    port: scratch.port,
    url: scratch.url,
    restoreMs: scratch.restoreMs,
    recoveryMs: scratch.recoveryMs,
    rtoSeconds: Math.round((performance.now() - started) / 100) / 10,
    window,
  };
  out.json(result);
  out.success(
    `restored to ${result.target} in ${formatAge(result.restoreMs + result.recoveryMs)} (restore ${formatAge(result.restoreMs)}, WAL replay ${formatAge(result.recoveryMs)})`,
  );
  out.line(`Connect:  psql '${scratch.url}'`);
  out.line(`Stop it:  pg_ctl -D ${scratch.dataDir} stop   (as the cluster's OS user), then remove ${options.targetDir}`);
  return result;
}
