import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createDatabase, type Database } from '../../service/src/platform/db.js';
import { listMigrationFiles, migrateLatest } from '../../service/src/platform/migrations.js';
import { realPostgresAvailable, testDatabaseUrl } from './services.js';

export interface TestDatabase {
  readonly db: Database;
  readonly kind: 'postgres' | 'pglite';
  /** Connection string of the throwaway database (real PostgreSQL only). */
  readonly url: string | undefined;
  /** Closes the pool and drops the throwaway database. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Apply every migration (default true). */
  migrated?: boolean;
  poolMax?: number;
  acquireTimeoutMs?: number;
}

/**
 * A throwaway database for one test file: a fresh PostgreSQL database on the real server when
 * TEST_DATABASE_URL answers, else an in-memory PGlite loaded from a cached, migrated snapshot.
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const migrated = options.migrated ?? true;
  if (await realPostgresAvailable()) {
    const adminUrl = testDatabaseUrl() as string;
    const name = `rampart_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    await adminQuery(adminUrl, `create database ${name}`);
    const url = withDatabase(adminUrl, name);
    const db = createDatabase({
      url,
      poolMax: options.poolMax ?? 10,
      acquireTimeoutMs: options.acquireTimeoutMs ?? 5000,
      statementTimeoutMs: 30_000,
      applicationName: 'rampart-test',
    });
    if (migrated) await migrateLatest(db);
    return {
      db,
      kind: 'postgres',
      url,
      async drop() {
        await db.close();
        await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
      },
    };
  }
  const pglite = migrated ? await PGlite.create({ loadDataDir: await migratedSnapshot() }) : await PGlite.create();
  const db = createDatabase({ pglite, poolMax: 1, acquireTimeoutMs: 5000, statementTimeoutMs: 30_000 });
  return {
    db,
    kind: 'pglite',
    url: undefined,
    async drop() {
      await db.close();
      if (!pglite.closed) await pglite.close();
    },
  };
}

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * A gzip dump of a migrated PGlite data directory, cached in the OS temp dir under the migrations'
 * checksum: initialising PGlite takes seconds, loading a snapshot well under one.
 */
async function migratedSnapshot(): Promise<Blob> {
  const checksum = createHash('sha256')
    .update(listMigrationFiles().map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), 'rampart-test-snapshots');
  const file = join(dir, `pglite-${checksum}.tar.gz`);
  if (!existsSync(file)) {
    const pglite = await PGlite.create();
    const db = createDatabase({ pglite, poolMax: 1, acquireTimeoutMs: 5000, statementTimeoutMs: 30_000 });
    await migrateLatest(db);
    const dump = await pglite.dumpDataDir('gzip');
    await db.close(); // knex-pglite closes the PGlite instance it was given
    mkdirSync(dir, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, file);
  }
  return new Blob([readFileSync(file)]);
}
