import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createDatabase, type Database, type Knex, openSession } from './db.js';

/** The repository's migrations folder, found the same way from sources (tsx) and from dist/. */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/** Key of the PostgreSQL advisory lock that serialises migration runs across replicas and the CLI. */
export const MIGRATION_LOCK_KEY = 7_261_127_001;

/** knex's bookkeeping table, and the row lock table knex derives from it (`<table>_lock`). */
export const MIGRATIONS_TABLE = 'knex_migrations';
export const KNEX_LOCK_TABLE = `${MIGRATIONS_TABLE}_lock`;

/** sha256 of each applied migration's file, written in the migration's own transaction. */
export const CHECKSUM_TABLE = 'rampart_migration_checksums';

/**
 * Per-migration limits, applied with `SET LOCAL` inside each migration's transaction. lock_timeout is
 * short on purpose: DDL queued behind a long transaction blocks every later query on the table, so a
 * migration that cannot get its lock quickly fails (and is retried later) instead of stalling traffic.
 */
export interface MigrationTimeouts {
  /** ms; 0 = no limit. */
  lockTimeoutMs: number;
  /** ms; 0 = no limit. */
  statementTimeoutMs: number;
}

export const DEFAULT_MIGRATION_TIMEOUTS: MigrationTimeouts = Object.freeze({
  lockTimeoutMs: 5_000,
  statementTimeoutMs: 15 * 60_000,
});

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  config?: { transaction?: boolean };
}

export interface MigrationFile {
  /** Name recorded in knex_migrations: the file name without its extension. */
  name: string;
  path: string;
  /** sha256 of the file's text; `secops migrate status` flags an applied migration whose file changed. */
  checksum: string;
}

/** File names knex accepts as migrations: `<UTC yyyymmddHHMMSS>_<snake_name>.<ext>`. */
export const MIGRATION_FILE_PATTERN = /^\d{14}_[a-z0-9_]+\./;

/** `.ts` when running from sources, `.js` when built. */
export const MIGRATION_EXTENSION = extname(fileURLToPath(import.meta.url)) === '.ts' ? '.ts' : '.js';

/** Lists migration files in name order; `.ts` when running from sources, `.js` when built. */
export function listMigrationFiles(dir = MIGRATIONS_DIR): MigrationFile[] {
  const ext = MIGRATION_EXTENSION;
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && MIGRATION_FILE_PATTERN.test(f))
    .sort()
    .map((f) => {
      const path = join(dir, f);
      return {
        name: f.slice(0, -ext.length),
        path,
        checksum: createHash('sha256').update(readFileSync(path)).digest('hex'),
      };
    });
}

export interface MigrationSourceOptions {
  /** `SET LOCAL` these limits before each migration's up/down (transactional migrations only). */
  timeouts?: MigrationTimeouts;
  /** Record the file's checksum when a migration goes up and forget it when it goes down. */
  recordChecksums?: boolean;
}

/**
 * A knex migration source whose names do not depend on the file extension. With options, each
 * migration is wrapped: limits are set first, and the checksum row is written in the same transaction
 * as the schema change, so a committed migration always has its checksum and a failed one never does.
 */
export function migrationSource(dir = MIGRATIONS_DIR, options: MigrationSourceOptions = {}): Knex.MigrationSource<MigrationFile> {
  return {
    async getMigrations() {
      return listMigrationFiles(dir);
    },
    getMigrationName(m) {
      return m.name;
    },
    async getMigration(m) {
      const module = (await import(pathToFileURL(m.path).href)) as MigrationModule;
      if (!options.timeouts && !options.recordChecksums) return module;
      // knex passes the migration's transaction unless the migration opted out of one; SET LOCAL
      // outside a transaction would be a silent no-op, so it is only issued inside one.
      const transactional = module.config?.transaction !== false;
      const prepare = async (knex: Knex) => {
        if (options.timeouts && transactional) await setLocalTimeouts(knex, options.timeouts);
      };
      return {
        config: module.config,
        async up(knex: Knex) {
          await prepare(knex);
          await module.up(knex);
          if (options.recordChecksums) {
            await knex(CHECKSUM_TABLE)
              .insert({ name: m.name, checksum: m.checksum, applied_at: knex.fn.now() })
              .onConflict('name')
              .merge();
          }
        },
        async down(knex: Knex) {
          await prepare(knex);
          await module.down(knex);
          if (options.recordChecksums) await knex(CHECKSUM_TABLE).where({ name: m.name }).delete();
        },
      } satisfies MigrationModule;
    },
  };
}

export function migratorConfig(dir = MIGRATIONS_DIR, options: MigrationSourceOptions = {}): Knex.MigratorConfig {
  return { migrationSource: migrationSource(dir, options), tableName: MIGRATIONS_TABLE };
}

async function setLocalTimeouts(knex: Knex, t: MigrationTimeouts): Promise<void> {
  // SET takes no bind parameters; the values are validated integers (milliseconds).
  await knex.raw(`set local lock_timeout = ${msSetting(t.lockTimeoutMs)}`);
  await knex.raw(`set local statement_timeout = ${msSetting(t.statementTimeoutMs)}`);
}

function msSetting(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`invalid timeout: ${ms} ms`);
  return ms;
}

/**
 * Runs `fn` while holding a session-level advisory lock on a dedicated connection, so two replicas
 * (or a replica and `secops migrate`) starting together cannot race: the second waits, then finds
 * nothing to do. PGlite is single-connection and single-process, so no lock is needed there.
 */
export async function withMigrationLock<T>(
  db: Database,
  fn: () => Promise<T>,
  options: { waitTimeoutMs?: number } = {},
): Promise<T> {
  return withAdvisoryLock(db, MIGRATION_LOCK_KEY, fn, {
    waitTimeoutMs: options.waitTimeoutMs ?? 300_000,
    what: 'the migration lock',
    hint: 'another migration is running?',
  });
}

/**
 * The session-level advisory lock behind withMigrationLock, for other exclusive operations
 * (e.g. `secops retention run`). `waitTimeoutMs: 0` tries once and fails at once when it is held.
 */
export async function withAdvisoryLock<T>(
  db: Database,
  key: number,
  fn: () => Promise<T>,
  options: { waitTimeoutMs: number; what: string; hint: string },
): Promise<T> {
  if (db.kind !== 'postgres' || !db.url) return fn();
  const session = await openSession(db.url, { applicationName: 'rampart-migrate-lock' });
  const { client } = session;
  try {
    // Waiting is bounded: a stuck holder makes the second runner fail loudly instead of hanging.
    const waitMs = options.waitTimeoutMs;
    if (waitMs <= 0) {
      const r = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [key]);
      if (!r.rows[0]?.locked) throw new Error(`${options.what} is held by another session (${options.hint})`);
    } else {
      await client.query(`set lock_timeout = ${Math.max(1, Math.floor(waitMs))}`);
      try {
        await client.query('select pg_advisory_lock($1)', [key]);
      } catch (err) {
        throw new Error(`could not take ${options.what} within ${waitMs} ms (${options.hint})`, { cause: err });
      }
    }
    const result = await fn();
    // A dropped lock connection must fail the run (the lock was gone), not crash the process.
    const lost = session.lost();
    if (lost) throw new Error(`the connection holding ${options.what} was lost during the run`, { cause: lost });
    return result;
  } finally {
    // Ending the session releases the advisory lock; closing never throws, so it cannot hide fn's error.
    await session.close();
  }
}

export interface AppliedMigration {
  name: string;
  batch: number;
  migratedAt: Date;
  /** Checksum recorded when it was applied; undefined when applied before checksums were kept. */
  recordedChecksum: string | undefined;
}

export interface MigrationState {
  applied: AppliedMigration[];
  pending: string[];
  /** Recorded as applied but no file of that name exists (knex refuses to migrate until resolved). */
  missing: string[];
  /** Applied, and the file's checksum no longer matches the one recorded when it ran. */
  modified: string[];
  /** Applied with no recorded checksum (before checksums were kept): cannot be verified yet. */
  unrecorded: string[];
}

/** Read-only (knex's own `migrate.list()` creates its tables when missing; this never writes). */
export async function readMigrationState(knex: Knex, dir = MIGRATIONS_DIR): Promise<MigrationState> {
  const files = listMigrationFiles(dir);
  const rows: { name: string; batch: number; migration_time: Date | string }[] = (await knex.schema.hasTable(
    MIGRATIONS_TABLE,
  ))
    ? await knex(MIGRATIONS_TABLE).select('name', 'batch', 'migration_time').orderBy('id')
    : [];
  const sums: { name: string; checksum: string }[] = (await knex.schema.hasTable(CHECKSUM_TABLE))
    ? await knex(CHECKSUM_TABLE).select('name', 'checksum')
    : [];
  const recorded = new Map(sums.map((s) => [s.name, s.checksum]));
  const current = new Map(files.map((f) => [f.name, f.checksum]));
  const applied = rows.map((r) => ({
    name: r.name,
    batch: r.batch,
    migratedAt: new Date(r.migration_time),
    recordedChecksum: recorded.get(r.name),
  }));
  const appliedNames = new Set(applied.map((m) => m.name));
  return {
    applied,
    pending: files.filter((f) => !appliedNames.has(f.name)).map((f) => f.name),
    missing: applied.filter((m) => !current.has(m.name)).map((m) => m.name),
    modified: applied
      .filter((m) => m.recordedChecksum !== undefined && current.has(m.name) && current.get(m.name) !== m.recordedChecksum)
      .map((m) => m.name),
    unrecorded: applied.filter((m) => m.recordedChecksum === undefined && current.has(m.name)).map((m) => m.name),
  };
}

/** `latest`/`up` refuse to run while an applied migration's file differs from what was applied. */
export class ModifiedMigrationsError extends Error {
  readonly names: readonly string[];
  constructor(names: readonly string[]) {
    super(
      `applied migration${names.length === 1 ? '' : 's'} changed since ${names.length === 1 ? 'it was' : 'they were'} applied: ${names.join(', ')} — restore the file(s), or write a new migration for the change`,
    );
    this.name = 'ModifiedMigrationsError';
    this.names = names;
  }
}

export type MigrationDirection = 'latest' | 'up' | 'down' | 'rollback' | 'rollback-all';

export interface RunMigrationsOptions {
  dir?: string;
  timeouts?: MigrationTimeouts;
  /** `latest`/`up` run even when an applied migration's file changed (default: refuse). */
  allowModified?: boolean;
  /** Run inside a transaction that is rolled back, capturing every query knex issues. */
  dryRun?: boolean;
  /** How long to wait for another migration run's advisory lock (ms). */
  lockWaitTimeoutMs?: number;
}

export interface CapturedQuery {
  sql: string;
  bindings: readonly unknown[];
}

export interface MigrationRun {
  /** Migrations applied (up, latest) or rolled back (down, rollback), in the order they ran. */
  names: string[];
  /** Applied migrations that had no checksum yet; their current file's checksum was recorded. */
  baselined: string[];
  /** Dry runs only: every statement, in order (the enclosing BEGIN/ROLLBACK aside). */
  queries: CapturedQuery[];
}

/**
 * One migration run under the advisory lock: limits per migration, checksums recorded in each
 * migration's transaction, refusal on modified files. A dry run does everything inside one
 * transaction that is always rolled back (note: its DDL still takes its locks until then).
 */
export async function runMigrations(
  db: Database,
  direction: MigrationDirection,
  options: RunMigrationsOptions = {},
): Promise<MigrationRun> {
  return withMigrationLock(
    db,
    async () => {
      if (!options.dryRun) return { ...(await execute(db.knex, direction, options)), queries: [] };
      const trx = await db.knex.transaction();
      const queries: CapturedQuery[] = [];
      trx.on('query', (q: { sql: string; bindings?: readonly unknown[] }) => {
        queries.push({ sql: q.sql, bindings: q.bindings ?? [] });
      });
      try {
        return { ...(await execute(trx, direction, options)), queries: queries.filter((q) => q.sql !== 'ROLLBACK') };
      } finally {
        if (!trx.isCompleted()) await trx.rollback();
      }
    },
    { waitTimeoutMs: options.lockWaitTimeoutMs },
  );
}

async function execute(
  knex: Knex,
  direction: MigrationDirection,
  options: RunMigrationsOptions,
): Promise<Omit<MigrationRun, 'queries'>> {
  const dir = options.dir ?? MIGRATIONS_DIR;
  await knex.raw(
    `create table if not exists ${CHECKSUM_TABLE} (name text primary key, checksum text not null, applied_at timestamptz not null default now())`,
  );
  const state = await readMigrationState(knex, dir);
  const forward = direction === 'latest' || direction === 'up';
  if (forward && state.modified.length > 0 && !options.allowModified) throw new ModifiedMigrationsError(state.modified);
  // Migrations applied before checksums were kept are adopted as they are now: from here on, an edit shows.
  const baselined = forward ? state.unrecorded : [];
  if (baselined.length > 0) {
    const byName = new Map(listMigrationFiles(dir).map((f) => [f.name, f.checksum]));
    await knex(CHECKSUM_TABLE)
      .insert(baselined.map((name) => ({ name, checksum: byName.get(name) })))
      .onConflict('name')
      .ignore();
  }
  const config = migratorConfig(dir, { timeouts: options.timeouts ?? DEFAULT_MIGRATION_TIMEOUTS, recordChecksums: true });
  let names: string[];
  switch (direction) {
    case 'latest':
      [, names] = (await knex.migrate.latest(config)) as [number, string[]];
      break;
    case 'up':
      [, names] = (await knex.migrate.up(config)) as [number, string[]];
      break;
    case 'down':
      [, names] = (await knex.migrate.down(config)) as [number, string[]];
      break;
    case 'rollback':
    case 'rollback-all':
      [, names] = (await knex.migrate.rollback(config, direction === 'rollback-all')) as [number, string[]];
      break;
  }
  return { names, baselined };
}

/** Applies every pending migration under the advisory lock; returns the names applied. */
export async function migrateLatest(
  db: Database,
  dir = MIGRATIONS_DIR,
  options: Omit<RunMigrationsOptions, 'dir' | 'dryRun'> = {},
): Promise<string[]> {
  // The service's start-up path keeps working when a file was edited; `secops migrate latest` refuses.
  return (await runMigrations(db, 'latest', { allowModified: true, ...options, dir })).names;
}

export interface AdvisoryLockHolder {
  pid: number;
  granted: boolean;
  applicationName: string | null;
  state: string | null;
  since: Date | null;
  query: string | null;
}

/** Sessions holding (granted) or waiting for the migration advisory lock in this database. */
export async function migrationLockHolders(knex: Knex, key = MIGRATION_LOCK_KEY): Promise<AdvisoryLockHolder[]> {
  // A bigint advisory key shows in pg_locks split into classid (high 32 bits) and objid (low), objsubid 1.
  const r = await knex.raw(
    `select l.pid, l.granted, a.application_name, a.state, coalesce(a.xact_start, a.backend_start) as since,
            left(a.query, 200) as query
       from pg_locks l left join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = (?::bigint >> 32)::oid and l.objid = (?::bigint & 4294967295)::oid
      order by l.granted desc, l.pid`,
    [key, key],
  );
  return (r.rows as Record<string, unknown>[]).map((row) => ({
    pid: Number(row.pid),
    granted: row.granted === true,
    applicationName: (row.application_name as string | null) ?? null,
    state: (row.state as string | null) ?? null,
    since: row.since ? new Date(row.since as string) : null,
    query: (row.query as string | null) ?? null,
  }));
}

/**
 * Applies pending migrations at start. On PostgreSQL they get a connection of their own: the service's
 * pool bounds every query (DB_STATEMENT_TIMEOUT_MS + 1 s, client side), and migrations set their own,
 * longer limits. PGlite has one connection, so they share it.
 */
export async function migrateOnStart(db: Database, options: { acquireTimeoutMs: number; statementTimeoutMs: number }): Promise<string[]> {
  if (db.kind !== 'postgres') return migrateLatest(db);
  const own = createDatabase({
    url: db.url,
    poolMax: 1,
    acquireTimeoutMs: options.acquireTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
    applicationName: 'rampart-migrate',
  });
  try {
    return await migrateLatest(own);
  } finally {
    await own.close();
  }
}
