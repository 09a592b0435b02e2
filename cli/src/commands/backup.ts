import type { CliContext } from '../lib/context.js';
import type { BackupOptions } from '../lib/backup/options.js';

/**
 * `secops backup <action>`: consistent pg_dump backups with a manifest, restores, retention and restore
 * drills. Each action lives in its own `backup-<action>.ts`; this is the group's one typed entry.
 */
export type { BackupOptions } from '../lib/backup/options.js';

export async function run(options: BackupOptions, ctx: CliContext): Promise<unknown> {
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
    case 'signing-key':
      return (await import('./backup-signing-key.js')).runGenerateSigningKey(options, ctx);
  }
}
