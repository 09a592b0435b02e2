import { join, resolve } from 'node:path';
import { createBackup } from '../lib/backup/create.js';
import { runDrill as drill } from '../lib/backup/drill.js';
import { listBackups, readManifest, type StoredBackup } from '../lib/backup/manifest.js';
import type { BackupOptions } from '../lib/backup/options.js';
import { pushDrillMetrics } from '../lib/backup/pushgateway.js';
import { backupEnv, backupKey } from '../lib/backup/settings.js';
import { requireConfiguredUrl } from '../lib/backup/source.js';
import type { CliContext } from '../lib/context.js';
import { formatAge } from '../lib/duration.js';
import { CheckFailedError, CliError, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { writePrivateFile } from '../lib/private-files.js';

export async function runDrill(options: Extract<BackupOptions, { action: 'drill' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const { maxAgeMs } = options;
  if (options.from && options.create) throw new UsageError('--from and --create exclude each other');
  const settings = backupEnv(ctx.env);
  const serverUrl = await requireConfiguredUrl(ctx, 'backup drill');
  const key = await backupKey(ctx, options);
  const root = resolve(options.dir ?? settings.BACKUP_DIR);

  // Ctrl-C or a SIGTERM from a scheduler kills pg_restore; the drill then drops its scratch database.
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    let backup: StoredBackup;
    if (options.create) {
      const created = await out.step('Taking a backup first', () =>
        createBackup({
          sourceUrl: serverUrl,
          root,
          jobs: options.jobs,
          checksum: options.checksum,
          key,
          env: ctx.env,
          step: out.step,
          signal: controller.signal,
        }),
      );
      backup = created;
    } else if (options.from) {
      try {
        backup = { dir: resolve(options.from), manifest: readManifest(resolve(options.from)) };
      } catch (err) {
        throw new CliError(`drill FAILED: ${(err as Error).message}`, { code: 'backup_missing' });
      }
    } else {
      const newest = listBackups(root)[0];
      if (!newest) throw new CliError(`drill FAILED: no backup in ${root}`, { code: 'backup_missing' });
      backup = newest;
    }

    const report = await drill({
      backup,
      serverUrl,
      key,
      jobs: options.jobs,
      maxAgeMs,
      template: options.template,
      env: ctx.env,
      signal: controller.signal,
      step: out.step,
    });
    const reportFile = resolve(
      options.report ?? join(backup.dir, `drill-${report.startedAt.replace(/[-:]/g, '').replace(/\.\d{3}/, '')}.json`),
    );
    writePrivateFile(reportFile, `${JSON.stringify(report, null, 2)}\n`);
    if (options.pushgateway) {
      // Alerting depends on this push; a failed push is reported but does not change the drill's verdict.
      await pushDrillMetrics(options.pushgateway, report).catch((err: Error) =>
        out.warn(`could not push the drill result to the Pushgateway: ${err.message}`),
      );
    }
    const rpo = formatAge(report.rpoSeconds * 1000);
    if (!report.ok) {
      throw new CheckFailedError(
        `drill FAILED backup=${backup.manifest.id} rpo=${rpo} report=${reportFile}\n${report.failures.map((f) => `  - ${f}`).join('\n')}`,
      );
    }
    out.json({ ...report, reportFile });
    out.success(
      `drill OK backup=${backup.manifest.id} rto=${report.rtoSeconds}s rpo=${rpo} tables=${report.totals.tables} rows=${report.totals.rows} amcheck=${report.amcheck.status}`,
    );
    return { ...report, reportFile };
  } finally {
    process.removeListener('SIGINT', abort);
    process.removeListener('SIGTERM', abort);
    options.signal?.removeEventListener('abort', abort);
  }
}
