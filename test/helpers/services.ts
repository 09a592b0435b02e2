import pg from 'pg';

/**
 * Which real services the tests use: TEST_DATABASE_URL and TEST_REDIS_URL only — never the
 * DATABASE_URL / REDIS_URL of the environment, which may name a database nobody wants tests in.
 * `npm test` (scripts/run-tests.ts) starts private ones and sets both when they are unset and the
 * binaries exist. CI sets REQUIRE_SERVICES=1: then a missing PostgreSQL or Redis fails the run instead
 * of letting tests fall back (PGlite) or skip.
 */
export const REQUIRE_SERVICES = process.env.REQUIRE_SERVICES === '1' || process.env.REQUIRE_SERVICES === 'true';

export function testDatabaseUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL || undefined;
}

export function testRedisUrl(): string | undefined {
  return process.env.TEST_REDIS_URL || undefined;
}

let pgReachable: Promise<boolean> | undefined;

/** True when the PostgreSQL of TEST_DATABASE_URL answers; throws under REQUIRE_SERVICES when it does not. */
export function realPostgresAvailable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const url = testDatabaseUrl();
    if (!url) {
      if (REQUIRE_SERVICES) throw new Error('REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set');
      return false;
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (err) {
      if (REQUIRE_SERVICES) throw new Error(`REQUIRE_SERVICES=1 but PostgreSQL at TEST_DATABASE_URL does not answer: ${(err as Error).message}`);
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgReachable;
}

/**
 * For `{ skip }`: false when a real PostgreSQL answers, else why the test cannot run (a PGlite in the
 * test process cannot be shared with a service process). Throws under REQUIRE_SERVICES instead.
 */
export async function skipUnlessRealPostgres(): Promise<string | false> {
  return (
    !(await realPostgresAvailable()) &&
    'needs a real PostgreSQL shared with the service process (TEST_DATABASE_URL, or initdb/pg_ctl for npm test to start one)'
  );
}
