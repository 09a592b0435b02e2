import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Database, Knex } from './db.js';

/** The repository's migrations folder, found the same way from sources (tsx) and from dist/. */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/** Key of the PostgreSQL advisory lock that serialises migration runs across replicas and the CLI. */
export const MIGRATION_LOCK_KEY = 7_261_127_001;

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

/** Lists migration files in name order; `.ts` when running from sources, `.js` when built. */
export function listMigrationFiles(dir = MIGRATIONS_DIR): MigrationFile[] {
  const ext = extname(fileURLToPath(import.meta.url)) === '.ts' ? '.ts' : '.js';
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && /^\d{14}_[a-z0-9_]+\./.test(f))
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

/** A knex migration source whose names do not depend on the file extension. */
export function migrationSource(dir = MIGRATIONS_DIR): Knex.MigrationSource<MigrationFile> {
  return {
    async getMigrations() {
      return listMigrationFiles(dir);
    },
    getMigrationName(m) {
      return m.name;
    },
    async getMigration(m) {
      return (await import(pathToFileURL(m.path).href)) as MigrationModule;
    },
  };
}

export function migratorConfig(dir = MIGRATIONS_DIR): Knex.MigratorConfig {
  return { migrationSource: migrationSource(dir), tableName: 'knex_migrations' };
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
  if (db.kind !== 'postgres' || !db.url) return fn();
  const client = new pg.Client({
    connectionString: db.url,
    application_name: 'rampart-migrate-lock',
    connectionTimeoutMillis: 10_000,
  });
  // A dropped lock connection must fail the run, not crash the process.
  let lost: Error | undefined;
  client.on('error', (err) => {
    lost = err;
  });
  await client.connect();
  try {
    // Waiting is bounded: a stuck holder makes the second runner fail loudly instead of hanging.
    const waitMs = options.waitTimeoutMs ?? 300_000;
    await client.query(`set lock_timeout = ${Math.max(1, Math.floor(waitMs))}`);
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    } catch (err) {
      throw new Error(`could not take the migration lock within ${waitMs} ms (another migration is running?)`, { cause: err });
    }
    const result = await fn();
    if (lost) throw new Error('the migration lock connection was lost during the run', { cause: lost });
    return result;
  } finally {
    // Ending the session releases the advisory lock; an unlock error must not hide fn's error.
    await client.end().catch(() => undefined);
  }
}

/** Applies every pending migration under the advisory lock; returns the names applied. */
export async function migrateLatest(db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  return withMigrationLock(db, async () => {
    const [, applied] = (await db.knex.migrate.latest(migratorConfig(dir))) as [number, string[]];
    return applied;
  });
}
