import { existsSync } from 'node:fs';
import { requireConfiguredUrl } from '../backup/source.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { type OsUser, ownerToRunAs } from './exec.js';
import { type PgBackRest, pgBackRest } from './pgbackrest.js';
import { type LiveServer, readLiveServer, withLive } from './server.js';
import { type PitrEnv, pitrEnv } from './settings.js';

/**
 * What every `secops pitr` command starts from: the configured database, what it says about itself,
 * the PITR settings, and pgBackRest running as the owner of the server's data directory — which must
 * be on this host (secops pitr runs beside the database: a sidecar, or the database host itself).
 */
export interface PitrSession {
  liveUrl: string;
  server: LiveServer;
  settings: PitrEnv;
  user: OsUser | undefined;
  pgbackrest: PgBackRest;
}

export async function openPitrSession(ctx: CliContext, why: string): Promise<PitrSession> {
  const settings = pitrEnv(ctx.env);
  const liveUrl = await requireConfiguredUrl(ctx, why);
  const server = await withLive(liveUrl, readLiveServer);
  if (!existsSync(server.dataDirectory)) {
    throw new CliError(
      `the server's data directory ${server.dataDirectory} is not on this host: pgBackRest runs on the database host (see k8s/README.md, point-in-time recovery)`,
      { code: 'pitr_not_on_database_host' },
    );
  }
  const user = ownerToRunAs(server.dataDirectory);
  const pgbackrest = pgBackRest({ configPath: settings.PITR_CONFIG, stanza: settings.PITR_STANZA, user, env: ctx.env });
  return { liveUrl, server, settings, user, pgbackrest };
}
