import { resolve } from 'node:path';
import { createBackup } from '../lib/backup/create.js';
import { formatAge, formatBytes } from '../lib/duration.js';
import { databaseIdentity } from '../lib/backup/pg-tools.js';
import { backupEnv, backupKey, requireSigningKeyring } from '../lib/backup/settings.js';
import { requireConfiguredUrl } from '../lib/backup/source.js';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import type { BackupOptions } from '../lib/backup/options.js';

export async function runCreate(options: Extract<BackupOptions, { action: 'create' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const settings = backupEnv(ctx.env);
  const sourceUrl = await requireConfiguredUrl(ctx, 'backup create');
  const key = await backupKey(ctx, options);
  const keyring = await requireSigningKeyring(ctx, 'backup create');
  const root = resolve(options.dir ?? settings.BACKUP_DIR);
  out.line(`Database: PostgreSQL ${databaseIdentity(sourceUrl)}`);
  const { dir, manifest } = await out.step(`Dumping from one snapshot (pg_dump -Fd -j${options.jobs}) and counting rows`, () =>
    createBackup({ sourceUrl, root, jobs: options.jobs, checksum: options.checksum, key, keyring, env: ctx.env, step: out.step }),
  );
  const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
  const summary = {
    id: manifest.id,
    dir,
    createdAt: manifest.createdAt,
    encrypted: manifest.encryption !== null,
    sequence: manifest.sequence,
    predecessor: manifest.predecessor,
    signature: { alg: manifest.signature?.alg, kid: manifest.signature?.kid },
    migrationHead: manifest.migrationHead,
    tables: manifest.tables.map((t) => ({ name: t.name, rows: t.rows, checksum: t.checksum })),
    rows,
    databaseBytes: manifest.databaseBytes,
    dumpBytes: manifest.dumpBytes,
    timings: manifest.timings,
  };
  out.json(summary);
  out.success(
    `backup ${manifest.id}: ${manifest.tables.length} tables, ${rows} rows, ${formatBytes(manifest.dumpBytes)}${manifest.encryption ? ' (encrypted)' : ''} in ${formatAge(manifest.timings.totalMs)} → ${dir}`,
  );
  return summary;
}
