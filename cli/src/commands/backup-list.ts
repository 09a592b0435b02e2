import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { type CatalogEntry, catalogBackups } from '../lib/backup/catalog.js';
import type { BackupOptions } from '../lib/backup/options.js';
import { planRetention } from '../lib/backup/retention.js';
import { backupEnv, verifyOptions } from '../lib/backup/settings.js';
import type { CliContext } from '../lib/context.js';
import { formatAge, formatBytes } from '../lib/duration.js';
import { createReporter } from '../lib/output.js';

/** One backup as `list` shows it (and `--json` prints it): refused ones only by name, status and reason. */
function describe(entry: CatalogEntry, now: number) {
  if (entry.status === 'refused') return { id: basename(entry.dir), dir: entry.dir, status: entry.status, refusal: entry.code, reason: entry.reason };
  const m = entry.manifest;
  return {
    id: m.id,
    dir: entry.dir,
    status: entry.status,
    unsigned: entry.status === 'unsigned',
    sequence: m.sequence ?? null,
    chain: entry.chain,
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
  const now = new Date();
  const verify = await verifyOptions(ctx, options.allowUnsigned, out.warn, now);
  const backups = catalogBackups(root, verify).map((b) => describe(b, now.getTime()));
  out.json({ dir: root, allowUnsigned: options.allowUnsigned, backups });
  if (backups.length === 0) out.line(`No backups in ${root}`);
  for (const b of backups) {
    if (b.status === 'refused') {
      out.line(`${b.id}  REFUSED (${b.refusal}): ${b.reason}`);
      continue;
    }
    out.line(
      `${b.id}  ${formatAge(b.ageSeconds * 1000).padStart(7)} ago  ${formatBytes(b.dumpBytes).padStart(9)}  ${String(b.rows).padStart(10)} rows  ${b.status === 'verified' ? `verified #${b.sequence}` : 'UNSIGNED'}${b.encrypted ? '  encrypted' : ''}`,
    );
  }
  return backups;
}

/**
 * Retention plans from verified (signed) backups only: a refused directory (forged, future-dated,
 * copied…) is neither kept in place of a real backup nor deleted — it is reported, for a person to look
 * at; an unsigned one accepted by --allow-unsigned is kept and never counted.
 */
export async function runPrune(options: Extract<BackupOptions, { action: 'prune' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const root = resolve(options.dir ?? backupEnv(ctx.env).BACKUP_DIR);
  const entries = catalogBackups(root, await verifyOptions(ctx, options.allowUnsigned, out.warn));
  // Only signed backups are planned: an unsigned (format-1, --allow-unsigned) one could be a forgery
  // dated today, taking the place of a real backup. Unsigned ones are kept, for a person to delete.
  const trusted = entries.flatMap((b) => (b.status === 'verified' ? [{ createdAt: b.manifest.createdAt, backup: b }] : []));
  const unsigned = entries.flatMap((b) => (b.status === 'unsigned' ? [{ id: b.manifest.id, createdAt: b.manifest.createdAt, reasons: ['unsigned (format 1): never pruned automatically'] }] : []));
  const refused = entries.flatMap((b) => (b.status === 'refused' ? [{ id: basename(b.dir), dir: b.dir, refusal: b.code, reason: b.reason }] : []));
  const plan = planRetention(trusted, { daily: options.keepDaily, weekly: options.keepWeekly });
  const kept = [...plan.keep.map((k) => ({ id: k.item.backup.manifest.id, createdAt: k.item.createdAt, reasons: k.reasons })), ...unsigned];
  const deleted = plan.remove.map((r) => ({ id: r.backup.manifest.id, createdAt: r.createdAt, dir: r.backup.dir }));
  if (!options.dryRun) {
    for (const r of plan.remove) rmSync(r.backup.dir, { recursive: true, force: true });
  }
  out.json({ dir: root, dryRun: options.dryRun, allowUnsigned: options.allowUnsigned, kept, deleted, refused });
  for (const k of kept) out.line(`  keep    ${k.id}  (${k.reasons.join(', ')})`);
  for (const d of deleted) out.line(`  ${options.dryRun ? 'would delete' : 'deleted'} ${d.id}`);
  for (const r of refused) out.warn(`${r.id} left alone, not trusted (${r.refusal}): ${r.reason}`);
  out.success(`${kept.length} kept, ${deleted.length} ${options.dryRun ? 'to delete (dry run: nothing deleted)' : 'deleted'}${refused.length ? `, ${refused.length} refused and left alone` : ''}`);
  return { kept, deleted, refused };
}
