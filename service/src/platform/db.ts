import { mkdirSync } from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';

export type { Knex };

export interface DatabaseOptions {
  /** PostgreSQL connection string; undefined → embedded PGlite. */
  url?: string;
  /** PGlite data directory (ignored with `url`); undefined with no url → in-memory. */
  dataDir?: string;
  /** A PGlite instance to use (tests load a pre-migrated snapshot into one). */
  pglite?: unknown;
  poolMax: number;
  acquireTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName?: string;
  /** Where knex's own warnings go (it prints to stdout otherwise, which breaks JSON output). */
  log?: { warn(message: string): void; error(message: string): void };
}

export interface Database {
  readonly knex: Knex;
  readonly kind: 'postgres' | 'pglite';
  /** Connection string of a real PostgreSQL (for the advisory-lock connection and the CLI). */
  readonly url: string | undefined;
  pool(): { used: number; free: number; pending: number; max: number };
  close(): Promise<void>;
}

/** Builds the knex instance: `pg` over a bounded pool when a URL is given, PGlite otherwise. */
export function createDatabase(options: DatabaseOptions): Database {
  let knex: Knex;
  let kind: Database['kind'];
  let max: number;
  const log = options.log
    ? {
        warn: (m: unknown) => options.log?.warn(String(m)),
        error: (m: unknown) => options.log?.error(String(m)),
        deprecate: (m: unknown) => options.log?.warn(String(m)),
        debug: () => undefined,
      }
    : undefined;
  if (options.url) {
    kind = 'postgres';
    max = options.poolMax;
    knex = knexFactory({
      client: 'pg',
      log,
      connection: {
        connectionString: options.url,
        application_name: options.applicationName ?? 'rampart',
        statement_timeout: options.statementTimeoutMs,
        // A connection attempt must not outlive a request.
        connectionTimeoutMillis: options.acquireTimeoutMs,
      },
      pool: {
        min: 0,
        max: options.poolMax,
        acquireTimeoutMillis: options.acquireTimeoutMs,
        createTimeoutMillis: options.acquireTimeoutMs,
        idleTimeoutMillis: 30_000,
        propagateCreateError: true,
      },
    });
  } else {
    kind = 'pglite';
    max = 1;
    let connection: object;
    if (options.pglite) {
      const pglite = options.pglite;
      connection = () => ({ pglite });
    } else if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      connection = { filename: options.dataDir };
    } else {
      connection = {};
    }
    knex = knexFactory({ client: ClientPgLite as unknown as typeof knexFactory.Client, dialect: 'postgres', connection, log });
  }
  return {
    knex,
    kind,
    url: options.url,
    pool() {
      // tarn's pool is an internal of knex's client; read it defensively at scrape time.
      const pool = (knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } })
        .pool;
      if (!pool) return { used: 0, free: 0, pending: 0, max };
      return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires(), max };
    },
    async close() {
      await knex.destroy();
    },
  };
}

/** `select 1` bounded by `timeoutMs`; rejects on timeout so readiness never hangs. */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([db.knex.raw('select 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
