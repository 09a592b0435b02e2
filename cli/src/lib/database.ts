import { createDatabase, type Database, parseHostList } from '../../../service/src/public/db.js';
import { loadCliDatabaseConfig } from './config.js';
import type { CliIo, GlobalOptions, Writer } from './context.js';

/**
 * The production DatabaseOpener: `--database-url`, else DATABASE_URL(_FILE/_REF), else the embedded PGlite
 * under DATA_DIR — the same target the service would use with this environment.
 */
export async function openConfiguredDatabase(io: CliIo, options: GlobalOptions): Promise<Database> {
  // The database settings only: a maintenance Job has no mail, JWT or audit-key settings to give.
  const config = await loadCliDatabaseConfig(io.env, options.databaseUrl);
  const db = createDatabase({
    url: config.url,
    dataDir: config.dataDir,
    poolMax: config.poolMax,
    acquireTimeoutMs: config.acquireTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    applicationName: 'secops',
    // knex prints its warnings on stdout by default, which would corrupt a `--json` document.
    log: { warn: knexLine(io.stderr), error: knexLine(io.stderr) },
  });
  return db;
}

function knexLine(stderr: Writer) {
  return (message: string) => stderr.write(`secops: knex: ${message.split('\n', 1)[0]}\n`);
}

export interface DatabaseTarget {
  readonly kind: Database['kind'];
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
}

/**
 * Names the database without its credentials: the URL holds the password, so only host, port and
 * database name are ever printed. A string that does not parse as a URL is not echoed at all.
 */
export function describeTarget(db: Pick<Database, 'kind' | 'url'>): DatabaseTarget {
  if (db.kind !== 'postgres' || !db.url) return { kind: db.kind };
  const several = severalHosts(db.url);
  if (several) return { kind: db.kind, host: several.hosts, port: several.port, database: several.database };
  try {
    const u = new URL(db.url);
    return {
      kind: db.kind,
      host: decodeURIComponent(u.hostname) || u.searchParams.get('host') || 'localhost',
      port: u.port ? Number(u.port) : 5432,
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    };
  } catch {
    return { kind: db.kind };
  }
}

/** A libpq multi-host URL (`postgres://u@a:5432,b:5432/db`): its servers, without the credentials. */
function severalHosts(url: string): { hosts: string; port: number; database?: string } | undefined {
  let list: ReturnType<typeof parseHostList>;
  try {
    list = parseHostList(url);
  } catch {
    return undefined;
  }
  if (list.labels.length < 2) return undefined;
  const first = new URL(list.urls[0] as string);
  const database = decodeURIComponent(first.pathname.replace(/^\//, '')) || undefined;
  // host "a:5432,b:5433" and port 0 would print oddly: the labels carry the ports.
  const [last, port] = splitPort(list.labels[list.labels.length - 1] as string);
  return { hosts: [...list.labels.slice(0, -1), last].join(','), port, database };
}

function splitPort(label: string): [string, number] {
  const i = label.lastIndexOf(':');
  return [label.slice(0, i), Number(label.slice(i + 1))];
}

export function formatTarget(target: DatabaseTarget): string {
  if (target.kind === 'pglite') return 'embedded PGlite';
  if (!target.host) return 'PostgreSQL';
  return `PostgreSQL ${target.host}:${target.port}${target.database ? `/${target.database}` : ''}`;
}
