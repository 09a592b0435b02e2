import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import type { PitrOptions } from '../lib/pitr/options.js';
import { openPitrSession } from '../lib/pitr/session.js';
import { pitrCipherPass } from '../lib/pitr/settings.js';
import { setupPitr } from '../lib/pitr/setup.js';

export async function runSetup(_options: Extract<PitrOptions, { action: 'setup' }>, ctx: CliContext) {
  const out = createReporter(ctx);
  const cipherPass = await pitrCipherPass(ctx);
  const session = await openPitrSession(ctx, 'pitr setup');
  const { settings } = session;
  const result = await setupPitr({
    configPath: settings.PITR_CONFIG,
    stanza: settings.PITR_STANZA,
    repoPath: settings.PITR_REPO_PATH,
    retentionFull: settings.PITR_RETENTION_FULL,
    cipherPass,
    server: session.server,
    user: session.user,
    pgbackrest: session.pgbackrest,
    step: out.step,
  });
  out.json(result);
  out.line(`Configuration: ${result.configPath} (${result.configWritten ? 'written' : 'unchanged'})`);
  out.line(`archive_command: ${result.archiveCommand}`);
  out.success(`stanza ${result.stanza} ready in ${result.repoPath}; the server archives WAL into it (pgbackrest check passed)`);
  return result;
}
