import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatAge, formatBytes } from '../lib/duration.js';
import { listBackups, type StoredBackup } from '../lib/backup/manifest.js';
import { planRetention } from '../lib/backup/retention.js';
import { backupEnv } from '../lib/backup/settings.js';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import type { BackupOptions } from '../lib/backup/options.js';

/** One backup as `list` shows it (and `--json` prints it). */
function describe(backup: StoredBackup, now: number) {
  const m = backup.manifest;
  return {
    id: m.id,
    dir: backup.dir,
    createdAt: m.createdAt,
    ageSeconds: Math.round((now - Date.parse(m.createdAt)) / 1000),
    dumpBytes: m.dumpBytes,
    rows: m.tables.reduce((n, t) => n + t.rows, 0),
    tables: m.tables.length,
    encrypted: m.encryption !== null,
    migrationHead: m.migrationHead,
  };
}

export async function runList(options: Extract<BackupOptions, { action: 'list' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const root = resolve(options.dir ?? backupEnv(ctx.env).BACKUP_DIR);
  const now = Date.now();
  const backups = listBackups(root).map((b) => describe(b, now));
  out.json({ dir: root, backups });
  if (backups.length === 0) out.line(`No backups in ${root}`);
  for (const b of backups) {
    out.line(
      `${b.id}  ${formatAge(b.ageSeconds * 1000).padStart(7)} ago  ${formatBytes(b.dumpBytes).padStart(9)}  ${String(b.rows).padStart(10)} rows${b.encrypted ? '  encrypted' : ''}`,
    );
  }
  return backups;
}

export async function runPrune(options: Extract<BackupOptions, { action: 'prune' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const root = resolve(options.dir ?? backupEnv(ctx.env).BACKUP_DIR);
  const backups = listBackups(root);
  const plan = planRetention(
    backups.map((b) => ({ createdAt: b.manifest.createdAt, backup: b })),
    { daily: options.keepDaily, weekly: options.keepWeekly },
  );
  const kept = plan.keep.map((k) => ({ id: k.item.backup.manifest.id, createdAt: k.item.createdAt, reasons: k.reasons }));
  const deleted = plan.remove.map((r) => ({ id: r.backup.manifest.id, createdAt: r.createdAt, dir: r.backup.dir }));
  if (!options.dryRun) {
    for (const r of plan.remove) rmSync(r.backup.dir, { recursive: true, force: true });
  }
  out.json({ dir: root, dryRun: options.dryRun, kept, deleted });
  for (const k of kept) out.line(`  keep    ${k.id}  (${k.reasons.join(', ')})`);
  for (const d of deleted) out.line(`  ${options.dryRun ? 'would delete' : 'deleted'} ${d.id}`);
  out.success(`${kept.length} kept, ${deleted.length} ${options.dryRun ? 'to delete (dry run: nothing deleted)' : 'deleted'}`);
  return { kept, deleted };
}
