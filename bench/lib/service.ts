import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRelease, type Release } from '../../test/helpers/release.js';
import { type ServiceProcess, spawnService } from '../../test/helpers/service-process.js';
import pg from 'pg';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../test/helpers/production-env.js';
import { deleteRedisKeys } from '../../test/helpers/redis-keys.js';

/** Limits out of reach, for scenarios that measure something else from one client IP. */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT_GLOBAL_PER_MINUTE: '100000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '100000000',
  RATE_LIMIT_LOGIN_PER_MINUTE: '100000000',
  RATE_LIMIT_REFRESH_PER_MINUTE: '100000000',
  RATE_LIMIT_SIGNUP_PER_HOUR: '100000000',
  RATE_LIMIT_USER_PER_MINUTE: '100000000',
};

/** The service under a bench: test/helpers/service-process.ts's, the one way tests and benches start it. */
export type BenchService = ServiceProcess;

export interface BenchDatabase {
  env: Record<string, string>;
  describe: string;
  /** Runs one statement on the bench database (PostgreSQL only): what an operator's CLI would write. */
  query(sql: string, values?: unknown[]): Promise<void>;
  drop(): Promise<void>;
}

/**
 * A throwaway database for a benchmark run: a fresh database on the PostgreSQL of
 * BENCH_DATABASE_URL / TEST_DATABASE_URL / DATABASE_URL (else `fallbackUrl`), or an embedded PGlite directory.
 */
export async function benchDatabase(options: { fallbackUrl?: string } = {}): Promise<BenchDatabase> {
  const admin =
    process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || options.fallbackUrl;
  if (admin) {
    const name = `rampart_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
    const run = async (sql: string, values?: unknown[], url = admin) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(sql, values);
      } finally {
        await c.end();
      }
    };
    await run(`create database ${name}`);
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return {
      // Production as deployed, except that accounts need no verified address: the benches sign up
      // and sign in thousands of throwaway users (the verification flow is measured on its own).
      env: { DATABASE_URL: u.toString(), NODE_ENV: 'production', MIGRATE_ON_START: 'true', EMAIL_VERIFICATION: 'off', ...PRODUCTION_ACCOUNT_SETTINGS },
      describe: `PostgreSQL ${u.hostname}:${u.port || 5432}`,
      query: (sql, values) => run(sql, values, u.toString()),
      drop: () => run(`drop database if exists ${name} with (force)`),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-'));
  return {
    env: { DATA_DIR: dir, NODE_ENV: 'development' },
    describe: 'embedded PGlite',
    query: async () => {
      throw new Error('benchDatabase: query() needs PostgreSQL');
    },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

let release: Release | undefined;

/**
 * Starts the real service as a child process (its own event loop and thread pool) on a free port,
 * through bin/rampart.js as `npm start` does: under NODE_ENV=production that is the compiled build,
 * made once per bench process from the working tree into a release tree of its own (what the image
 * runs; this checkout's dist/ is left alone), and removed when the bench process exits.
 */
export async function startService(env: Record<string, string>): Promise<BenchService> {
  let entry = 'bin/rampart.js';
  if (env.NODE_ENV === 'production') {
    if (!release) {
      const built = buildRelease();
      process.once('exit', () => built.remove());
      release = built;
    }
    entry = release.entry;
  }
  return spawnService({
    entry,
    // BENCH_NODE_ARGS passes profiling flags to the service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    // The request log goes to a file, not a pipe this process must drain: the load generator shares
    // the CPUs with the service, and reading the log would be work the baseline does not do.
    logFile: join(mkdtempSync(join(tmpdir(), 'rampart-bench-log-')), 'service.log'),
    env: { JWT_SECRET: randomBytes(64).toString('base64url'), SHUTDOWN_DELAY_MS: '0', ...env },
  });
}

export interface BenchRedis {
  /** REDIS_URL and a key prefix of this run's own, for the service's environment. */
  env: Record<string, string>;
  describe: string;
  /** Deletes every key written under this run's prefix. */
  cleanup(): Promise<void>;
}

/**
 * The Redis a bench run shares between its service instances (BENCH_REDIS_URL / TEST_REDIS_URL /
 * REDIS_URL, else the local one), under a key prefix of its own that is deleted at the end.
 */
export function benchRedis(): BenchRedis {
  const url = process.env.BENCH_REDIS_URL || process.env.TEST_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const prefix = `rampart-bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const u = new URL(url);
  return {
    env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix },
    describe: `Redis ${u.hostname}:${u.port || 6379}`,
    cleanup: () => deleteRedisKeys(url, prefix),
  };
}

/** The local PostgreSQL (trust auth) the harness uses when no URL is configured. */
export const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
