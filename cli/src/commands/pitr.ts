import type { CliContext } from '../lib/context.js';
import type { PitrOptions } from '../lib/pitr/options.js';

/**
 * `secops pitr <action>`: point-in-time recovery with pgBackRest — setup, base backups, archive
 * status, restores to a moment into a scratch cluster, and the marker drill. Each action lives in its
 * own `pitr-<action>.ts`; this is the group's one typed entry.
 */
export type { PitrOptions } from '../lib/pitr/options.js';

export async function run(options: PitrOptions, ctx: CliContext): Promise<unknown> {
  switch (options.action) {
    case 'setup':
      return (await import('./pitr-setup.js')).runSetup(options, ctx);
    case 'backup':
      return (await import('./pitr-backup.js')).runBackup(options, ctx);
    case 'status':
      return (await import('./pitr-status.js')).runStatus(options, ctx);
    case 'restore':
      return (await import('./pitr-restore.js')).runRestore(options, ctx);
    case 'drill':
      return (await import('./pitr-drill.js')).runDrill(options, ctx);
  }
}
