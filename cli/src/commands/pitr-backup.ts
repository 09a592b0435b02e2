import type { CliContext } from '../lib/context.js';
import { formatAge, formatBytes } from '../lib/duration.js';
import { createReporter } from '../lib/output.js';
import { parseStanzaInfo } from '../lib/pitr/info.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { openPitrSession } from '../lib/pitr/session.js';

export async function runBackup(options: Extract<PitrOptions, { action: 'backup' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const { pgbackrest } = await openPitrSession(ctx, 'pitr backup');
  const started = performance.now();
  await out.step(`Taking a ${options.type} backup (pgbackrest backup --type=${options.type})`, () =>
    pgbackrest.run('backup', [`--type=${options.type}`]),
  );
  const info = parseStanzaInfo(await pgbackrest.run('info', ['--output=json'], { timeoutMs: 60_000 }), pgbackrest.stanza);
  const newest = info.backups.at(-1);
  const summary = {
    stanza: info.stanza,
    backup: newest ?? null,
    backups: info.backups.length,
    durationMs: Math.round(performance.now() - started),
  };
  out.json(summary);
  out.success(
    `${options.type} backup ${newest?.label ?? '?'}: ${formatBytes(newest?.sizeBytes ?? 0)} (${formatBytes(newest?.repoSizeBytes ?? 0)} in the repository) in ${formatAge(summary.durationMs)}; ${info.backups.length} backups kept`,
  );
  return summary;
}
