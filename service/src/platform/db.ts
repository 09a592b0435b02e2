import { mkdirSync } from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import ClientPgLite from 'knex-pglite';
import { AppError } from './errors.js';
import { HostWalker, parseHostList } from './pg-hosts.js';
import { openEmbeddedPglite } from './pglite.js';
// knex's own PostgreSQL dialect, subclassed for multiple hosts (knex ships no types for the path).
// @ts-expect-error untyped module path
import ClientPG from 'knex/lib/dialects/postgres/index.js';

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
  /**
   * Client-side bound on one query (pg's query_timeout). statement_timeout is enforced by the server,
   * so a server that stops answering (frozen, partitioned with the TCP connection still open) would
   * hang a request forever; this fails it instead (503). Leave unset for migrations, which run longer.
   */
  queryTimeoutMs?: number;
  applicationName?: string;
  /** Where knex's own warnings go (it prints to stdout otherwise, which breaks JSON output). */
  log?: { warn(message: string): void; error(message: string): void };
}

export interface Database {
  readonly knex: Knex;
  readonly kind: 'postgres' | 'pglite';
  /** Connection string of a real PostgreSQL (for the advisory-lock connection and the CLI); the current one after a reconfigure. */
  readonly url: string | undefined;
  pool(): { used: number; free: number; pending: number; max: number };
  /**
   * Points the pool at another connection string (a rotated password, a promoted replica): new
   * connections use it at once, and every connection made before is closed instead of reused once it
   * is free (queries running on one finish first). False when `url` is what is in use already, or
   * for PGlite. Throws on an unsupported target_session_attrs.
   */
  reconfigure(url: string): boolean;
  close(): Promise<void>;
}

/** Builds the knex instance: `pg` over a bounded pool when a URL is given, PGlite otherwise. */
export function createDatabase(options: DatabaseOptions): Database {
  let knex: Knex;
  let kind: Database['kind'];
  let max: number;
  let target: PoolTarget | undefined;
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
    target = { walker: new HostWalker(parseHostList(options.url)), generation: 0, url: options.url };
    knex = knexFactory({
      client: switchableClient(target),
      log,
      connection: {
        connectionString: target.walker.list.urls[0],
        application_name: options.applicationName ?? 'rampart',
        statement_timeout: options.statementTimeoutMs,
        ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
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
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    // Given (tests load a pre-migrated snapshot into one), else ours, tuned for a small footprint.
    const pglite = options.pglite ?? openEmbeddedPglite(options.dataDir);
    const connection: object = () => ({ pglite });
    knex = knexFactory({ client: ClientPgLite as unknown as typeof knexFactory.Client, dialect: 'postgres', connection, log });
  }
  return {
    knex,
    kind,
    get url() {
      return target?.url;
    },
    reconfigure(url: string) {
      if (!target || url === target.url) return false;
      const list = parseHostList(url);
      target.walker = new HostWalker(list);
      target.url = url;
      target.generation += 1;
      return true;
    },
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

type PgConnectionSettings = { connectionString: string } & Record<string, unknown>;

/** Where the pool's new connections go; replaced by `reconfigure`. */
interface PoolTarget {
  walker: HostWalker;
  /** Bumped by each reconfigure: a connection of an older generation is closed instead of reused. */
  generation: number;
  url: string;
}

const GENERATION = Symbol('rampart.poolGeneration');

/**
 * knex's PostgreSQL client whose every new connection walks the current host list (pg-hosts.ts): the
 * pool's connections land on whichever server is the primary now, and on a new connection string
 * after `reconfigure`. knex builds one connection in `_acquireOnlyConnection` from
 * `connectionSettings`, read synchronously; each attempt sets the server's connection string just
 * before it. `validateConnection` (tarn's check before reusing a free connection) turns away the
 * connections made for an earlier connection string.
 */
function switchableClient(target: PoolTarget): typeof knexFactory.Client {
  const base = ClientPG as {
    new (config: unknown): { connectionSettings: PgConnectionSettings };
    prototype: { _acquireOnlyConnection(this: unknown): Promise<pg.Client> };
  };
  class SwitchablePgClient extends base {
    _acquireOnlyConnection(): Promise<pg.Client> {
      const { walker, generation } = target;
      const hosts = walker.list;
      return walker
        .connect(
          (i) => {
            this.connectionSettings = { ...this.connectionSettings, connectionString: hosts.urls[i] as string };
            return base.prototype._acquireOnlyConnection.call(this);
          },
          (client) => client.end(),
        )
        .then((client) => Object.assign(client, { [GENERATION]: generation }));
    }

    validateConnection(connection: pg.Client & { [GENERATION]?: number }): boolean {
      return connection[GENERATION] === target.generation;
    }
  }
  return SwitchablePgClient as unknown as typeof knexFactory.Client;
}

/** System error codes of a database that cannot be reached (refused, reset, unroutable, unresolvable). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * SQLSTATEs meaning "not now" rather than "this query is wrong": class 08 (connection exception),
 * 57P01–57P03 (terminated by an administrator, crash shutdown, cannot connect now: starting up or
 * shutting down) and 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;
/** pg's own messages for a connection that died under it (they carry no code). */
const CONNECTION_LOST = /connection terminated|connection ended unexpectedly|client has encountered a connection error|query read timeout/i;

/**
 * True when `err` says the database is unreachable or dropped the connection (stopped, restarting,
 * the connection terminated, no connection free within the acquire timeout) — a condition to retry
 * later, answered 503, never a 500. Looks a few levels down the `cause` chain.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (CONNECTION_LOST.test(e.message)) return true;
  }
  return false;
}

/** The 503 for such an error: nothing is wrong with the request, and the client may retry shortly. */
export function databaseUnavailable(cause: unknown): AppError {
  return new AppError('service_unavailable', {
    detail: 'The database is unavailable; retry shortly.',
    headers: { 'Retry-After': '1' },
    cause,
  });
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

/** A raw PostgreSQL session (one connection, no pool) for what a pool cannot do: locks held for a run, snapshots, DDL. */
export interface RawSession {
  readonly client: pg.Client;
  /** What the connection died of, if it did (the next query fails too); undefined while it is healthy. */
  lost(): Error | undefined;
  /** Ends the session; never throws (a dead connection has nothing left to close). */
  close(): Promise<void>;
}

export interface RawSessionOptions {
  /** Shown in pg_stat_activity: who holds the connection. */
  applicationName: string;
  /** Connecting gives up after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Server-side statement_timeout of the session; unset: none (backups and restores run long statements). */
  statementTimeoutMs?: number;
  /** Client-side bound on each query's answer (a server that stops answering); unset: none. */
  queryTimeoutMs?: number;
}

/**
 * The one way to open a raw PostgreSQL session. The connection always has an `'error'` listener — a
 * connection dropped between queries (a restart, pg_terminate_backend) would otherwise be an uncaught
 * 'error' event that kills the process — and connecting is bounded in time.
 */
export async function openSession(url: string, options: RawSessionOptions): Promise<RawSession> {
  let lost: Error | undefined;
  let chosen: pg.Client | undefined;
  const hosts = parseHostList(url);
  // With several hosts (or target_session_attrs), the first server that matches, as the pool does.
  const client = await new HostWalker(hosts).connect(
    async (i) => {
      const c = new pg.Client({
        connectionString: hosts.urls[i],
        application_name: options.applicationName,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        ...(options.statementTimeoutMs !== undefined ? { statement_timeout: options.statementTimeoutMs } : {}),
        ...(options.queryTimeoutMs !== undefined ? { query_timeout: options.queryTimeoutMs } : {}),
      });
      c.on('error', (err) => {
        if (c === chosen) lost = err;
      });
      try {
        await c.connect();
      } catch (err) {
        await c.end().catch(() => undefined);
        throw err;
      }
      return c;
    },
    (c) => c.end(),
  );
  chosen = client;
  return { client, lost: () => lost, close: () => client.end().catch(() => undefined) };
}

/** `fn` with a raw session that is closed afterwards, whatever happens. */
export async function withSession<T>(url: string, options: RawSessionOptions, fn: (session: RawSession) => Promise<T>): Promise<T> {
  const session = await openSession(url, options);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
