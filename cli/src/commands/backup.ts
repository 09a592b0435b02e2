import type { CliContext } from '../lib/context.js';
import type { BackupOptions } from '../lib/backup/options.js';
import { UsageError } from '../lib/errors.js';

/**
 * `secops backup <action>`: consistent pg_dump backups with a manifest, restores, retention and restore
 * drills. Each action lives in its own `backup-<action>.ts`; this is the group's one typed entry.
 */
export type { BackupOptions } from '../lib/backup/options.js';

export async function run(options: BackupOptions, ctx: CliContext): Promise<unknown> {
  if ('jobs' in options) validateCount('--jobs', options.jobs, 1, 64);
  if ((options.action === 'create' || options.action === 'drill') && !['sum64', 'ordered'].includes(options.checksum)) {
    throw new UsageError('--checksum must be sum64 or ordered');
  }
  if (options.action === 'prune') {
    validateCount('--keep-daily', options.keepDaily, 0, 10_000);
    validateCount('--keep-weekly', options.keepWeekly, 0, 10_000);
  }
  switch (options.action) {
    case 'create':
      return (await import('./backup-create.js')).runCreate(options, ctx);
    case 'list':
      return (await import('./backup-list.js')).runList(options, ctx);
    case 'prune':
      return (await import('./backup-list.js')).runPrune(options, ctx);
    case 'restore':
      return (await import('./backup-restore.js')).runRestore(options, ctx);
    case 'drill':
      return (await import('./backup-drill.js')).runDrill(options, ctx);
  }
}

function validateCount(option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${option} must be a whole number from ${min} to ${max}`);
  }
}
