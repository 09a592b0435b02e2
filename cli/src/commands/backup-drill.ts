import { join, resolve } from 'node:path';
import { createBackup } from '../lib/backup/create.js';
import { runDrill as drill } from '../lib/backup/drill.js';
import { requireTrustedBackup, type TrustedBackup, trustedBackups } from '../lib/backup/catalog.js';
import type { BackupOptions } from '../lib/backup/options.js';
import { pushDrillMetrics } from '../lib/backup/pushgateway.js';
import { backupEnv, backupKey, requireSigningKeyring, verifyOptions } from '../lib/backup/settings.js';
import { requireConfiguredUrl } from '../lib/backup/source.js';
import type { CliContext } from '../lib/context.js';
import { formatAge } from '../lib/duration.js';
import { CheckFailedError, CliError, EXIT, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { writePrivateFile } from '../lib/private-files.js';
import { checkPushgatewayUrl } from '../lib/pushgateway-tls.js';

export async function runDrill(options: Extract<BackupOptions, { action: 'drill' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const plaintextWarning = checkPushgatewayUrl(options.pushgateway, ctx.env);
  if (plaintextWarning) out.warn(plaintextWarning);
  const { maxAgeMs } = options;
  if (options.from && options.create) throw new UsageError('--from and --create exclude each other');
  const settings = backupEnv(ctx.env);
  const serverUrl = await requireConfiguredUrl(ctx, 'backup drill');
  const key = await backupKey(ctx, options);
  const verify = await verifyOptions(ctx, options.allowUnsigned, out.warn);
  const keyring = options.create ? await requireSigningKeyring(ctx, 'backup drill --create') : verify.keyring;
  const root = resolve(options.dir ?? settings.BACKUP_DIR);

  // Ctrl-C or a SIGTERM from a scheduler kills pg_restore; the drill then drops its scratch database.
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    let backup: TrustedBackup;
    if (options.create && keyring) {
      const created = await out.step('Taking a backup first', () =>
        createBackup({
          sourceUrl: serverUrl,
          root,
          jobs: options.jobs,
          checksum: options.checksum,
          key,
          keyring,
          env: ctx.env,
          step: out.step,
          signal: controller.signal,
        }),
      );
      backup = requireTrustedBackup(created.dir, verify);
    } else if (options.from) {
      // The signature, id, date and chain first (catalog.ts); the files' hashes as the drill's first step.
      backup = requireTrustedBackup(resolve(options.from), verify);
    } else {
      // The newest trusted backup: a forged, copied or future-dated directory is never "the latest".
      // With --allow-unsigned an unsigned (format-1) backup is the latest only when no signed one exists:
      // anyone can write a format-1 manifest dated today.
      const trusted = trustedBackups(root, verify);
      const newest = trusted.find((b) => b.status === 'verified') ?? trusted[0];
      if (!newest) throw new CliError(`drill FAILED: no backup in ${root} passes verification (see secops backup list)`, { code: 'backup_missing' });
      backup = newest;
    }
    if (backup.status === 'unsigned') out.warn(`backup ${backup.manifest.id} is unsigned (format 1): accepted because of --allow-unsigned`);
    const latestSequence = Math.max(0, ...trustedBackups(options.from ? resolve(options.from, '..') : root, verify).map((b) => b.manifest.sequence ?? 0));

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
      await pushDrillMetrics(options.pushgateway, { ...report, latestSequence: latestSequence || undefined }).catch((err: Error) =>
        out.warn(`could not push the drill result to the Pushgateway: ${err.message}`),
      );
    }
    const rpo = formatAge(report.rpoSeconds * 1000);
    if (!report.ok) {
      const message = `drill FAILED backup=${backup.manifest.id} rpo=${rpo} report=${reportFile}\n${report.failures.map((f) => `  - ${f}`).join('\n')}`;
      if (report.refused) throw new CliError(message, { exitCode: EXIT.unverified, code: report.refused });
      throw new CheckFailedError(message);
    }
    out.json({ ...report, reportFile, unsigned: backup.status === 'unsigned', latestSequence });
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
