import { resolve } from 'node:path';
import { requireTrustedBackup } from '../lib/backup/catalog.js';
import { databaseIdentity } from '../lib/backup/pg-tools.js';
import { pgRestore, plainDump, plainDumpLabel, publicTableCount } from '../lib/backup/restore.js';
import { assertSafeBackup } from '../lib/backup/safe-path.js';
import { assertTargetIsNotLive } from '../lib/backup/target-guard.js';
import { backupKey, verifyOptions } from '../lib/backup/settings.js';
import { configuredUrl } from '../lib/backup/source.js';
import { verifyAgainstManifest } from '../lib/backup/verify.js';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import type { BackupOptions } from '../lib/backup/options.js';

/**
 * Restores a backup into the database `--to` names, then proves the copy equal to the manifest.
 * It refuses the configured (live) database as a target, however the URL spells it (target-guard.ts
 * reads only its identity there): restoring over production is a decision for a person with `psql`,
 * not a flag.
 */
export async function runRestore(options: Extract<BackupOptions, { action: 'restore' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const dir = resolve(options.from);
  // Authenticity first (catalog.ts): nothing of the backup is read before its signature is checked.
  const backup = requireTrustedBackup(dir, await verifyOptions(ctx, options.allowUnsigned, out.warn));
  const { manifest } = backup;
  assertSafeBackup({ dir, manifest });
  const target = databaseIdentity(options.to);
  const guard = await assertTargetIsNotLive(await configuredUrl(ctx), options.to);
  for (const warning of guard.warnings) out.warn(warning);
  out.line(`Restoring backup ${manifest.id} into PostgreSQL ${target}`);
  const tables = await publicTableCount(options.to);
  if (tables > 0 && !options.force) {
    throw new CliError(`refusing to restore into ${target}: it is not empty (${tables} tables in schema public); pass --force to replace them`, {
      code: 'target_not_empty',
    });
  }
  if (tables > 0) out.warn(`${target} holds ${tables} tables: --force drops and recreates the backup's objects`);
  const key = await backupKey(ctx, options);
  const started = performance.now();
  const dump = await out.step(plainDumpLabel(manifest), () => plainDump({ dir, manifest }, key, options.jobs));
  try {
    await out.step(`Restoring (pg_restore -j${options.jobs})`, () =>
      pgRestore(dump.dir, { targetUrl: options.to, jobs: options.jobs, clean: tables > 0, noOwner: options.noOwner, env: ctx.env }),
    );
  } finally {
    dump.dispose();
  }
  const verification = await out.step('Verifying row counts and checksums', () =>
    verifyAgainstManifest(options.to, manifest, { jobs: options.jobs, exact: false }),
  );
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  if (verification.failures.length > 0) {
    throw new CheckFailedError(`restore of ${manifest.id} does not match its backup:\n${verification.failures.map((f) => `  - ${f}`).join('\n')}`);
  }
  const rows = verification.tables.reduce((n, t) => n + (t.rows ?? 0), 0);
  const result = { id: manifest.id, unsigned: backup.status === 'unsigned', target, seconds, tables: verification.tables, rows, migrationHead: verification.migrationHead.actual };
  out.json(result);
  out.success(`restored ${manifest.id} into ${target} in ${seconds}s: ${verification.tables.length} tables, ${rows} rows verified`);
  return result;
}
