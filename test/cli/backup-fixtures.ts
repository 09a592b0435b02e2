import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { backupId, type Manifest } from '../../cli/src/lib/backup/manifest.js';
import { findTool } from '../../cli/src/lib/backup/pg-tools.js';
import { generateSigningKeyring, parseSigningKeyring, signManifest } from '../../cli/src/lib/backup/signing.js';
import { main } from '../../cli/src/main.js';
import { createTestDatabase, type TestDatabase, adminQuery } from '../helpers/database.js';
import { REQUIRE_SERVICES, realPostgresAvailable, testDatabaseUrl } from '../helpers/services.js';
import { captureIo } from './capture.js';

/**
 * Shared by the backup tests: whether they can run (a real PostgreSQL and pg_dump — under
 * REQUIRE_SERVICES=1 their absence fails the run), a seeded database, and a way to run `secops`.
 */
export async function backupPrerequisites(): Promise<string | undefined> {
  if (!(await realPostgresAvailable())) return 'needs PostgreSQL';
  for (const tool of ['pg_dump', 'pg_restore'] as const) {
    if (!findTool(tool, process.env)) {
      if (REQUIRE_SERVICES) throw new Error(`REQUIRE_SERVICES=1 but ${tool} is not installed`);
      return `needs ${tool}`;
    }
  }
  return undefined;
}

/** A migrated throwaway database with a few thousand users, sessions, conversations and messages. */
export async function seededDatabase(users = 1000): Promise<TestDatabase> {
  const testDb = await createTestDatabase();
  const knex = testDb.db.knex;
  await knex.raw(`insert into users (email, password_hash)
    select 'user' || g || '@example.test', '$argon2id$v=19$m=19456,t=2,p=1$' || md5(g::text) from generate_series(1, ?) g`, [users]);
  await knex.raw(`insert into sessions (user_id, expires_at, ip, user_agent)
    select id, now() + interval '30 days', '203.0.113.7', 'test-agent' from users`);
  await knex.raw(`insert into refresh_tokens (session_id, token_hash, expires_at)
    select id, decode(md5(id::text), 'hex'), now() + interval '30 days' from sessions`);
  await knex.raw(`insert into conversations (user_id, title) select id, 'chat of ' || email from users`);
  await knex.raw(`insert into messages (conversation_id, role, content)
    select c.id, case when g % 2 = 0 then 'user' else 'assistant' end, 'message ' || g || ' of ' || c.id
      from conversations c cross join generate_series(1, 3) g`);
  await knex.raw(`insert into audit_events (type, user_id, details)
    select 'login.succeeded', id, jsonb_build_object('n', 1) from users`);
  return testDb;
}

/** The manifest signing keyring the backup tests run with, as a deployment has one (BACKUP_SIGNING_KEY). */
export const TEST_SIGNING_KEYRING = generateSigningKeyring('ed25519', 'test-signing');

/**
 * Runs `secops` in-process with the database URL, PATH and TEST_SIGNING_KEYRING in its environment
 * only (`env` overrides; an empty BACKUP_SIGNING_KEY counts as unset).
 */
export async function secops(args: string[], databaseUrl: string | undefined, env: Record<string, string> = {}) {
  const captured = captureIo({
    PATH: process.env.PATH,
    BACKUP_SIGNING_KEY: TEST_SIGNING_KEYRING,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const code = await main(args, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `rampart-${prefix}-`));
}

export async function databaseExists(name: string): Promise<boolean> {
  const { rows } = await adminQuery(testDatabaseUrl() as string, 'select 1 from pg_database where datname = $1', [name]);
  return rows.length > 0;
}

/** An empty database on the test server, dropped by the returned function. */
export async function emptyDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const admin = testDatabaseUrl() as string;
  const name = `rampart_restore_${process.pid}_${randomBytes(3).toString('hex')}`;
  await adminQuery(admin, `create database ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.toString(), name, drop: () => adminQuery(admin, `drop database if exists ${name} with (force)`).then(() => undefined) };
}

/**
 * Alters one value in a table's data file of a directory-format dump: finds the file through the
 * table of contents (`pg_restore -l`), decompresses it, replaces the first `from` by `to`, recompresses it.
 */
export async function tamperTableData(dumpDir: string, table: string, from: string, to: string): Promise<void> {
  const listing = await new Promise<string>((resolve, reject) => {
    const child = spawn(findTool('pg_restore', process.env) as string, ['-l', dumpDir]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
  const line = listing.split('\n').find((l) => new RegExp(`TABLE DATA public ${table} `).test(l));
  const dumpId = line?.split(';')[0]?.trim();
  if (!dumpId) throw new Error(`no TABLE DATA entry for ${table}`);
  const file = readdirSync(dumpDir).find((f) => f === `${dumpId}.dat.gz` || f === `${dumpId}.dat`) as string;
  const path = join(dumpDir, file);
  const compressed = file.endsWith('.gz');
  const text = (compressed ? gunzipSync(readFileSync(path)) : readFileSync(path)).toString('utf8');
  const altered = text.replace(from, to);
  if (altered === text) throw new Error(`nothing to alter in ${file}`);
  writeFileSync(path, compressed ? gzipSync(altered) : altered);
}

/** Reads a backup's manifest, lets `change` alter it, and writes it back signed with `keyring` (default: the tests' own). */
export function resignManifest(dir: string, change: (m: Manifest) => void, keyring: string = TEST_SIGNING_KEYRING): Manifest {
  const file = join(dir, 'manifest.json');
  const { signature: _old, ...manifest } = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  change(manifest);
  const signed = { ...manifest, signature: signManifest(manifest, parseSigningKeyring(keyring)) };
  writeFileSync(file, `${JSON.stringify(signed, null, 2)}\n`);
  return signed;
}

/** Records the files of a backup's dump as they now are (sizes, SHA-256) in its manifest, re-signed. */
export async function rehashFiles(dir: string): Promise<Manifest> {
  const { sha256File } = await import('../../cli/src/lib/backup/dump-integrity.js');
  const files = new Map<string, { bytes: number; sha256: string }>();
  for (const name of readdirSync(join(dir, 'dump'))) {
    const path = join(dir, 'dump', name);
    files.set(name, { bytes: readFileSync(path).length, sha256: await sha256File(path) });
  }
  return resignManifest(dir, (m) => {
    m.files = m.files.map((f) => ({ ...f, ...files.get(f.path) }));
  });
}

export interface Fabricated {
  id: string;
  dir: string;
  /** SHA-256 of its manifest.json bytes: what a successor's `predecessor.digest` holds. */
  digest: string;
}

/**
 * A directory that looks like a backup taken at `at`, with an empty dump (list, prune and the catalog
 * read only manifests): format 2 signed with `keyring` (default: the tests' own), or an unsigned
 * format-1 one with `format: 1`. `change` alters the manifest before it is signed.
 */
export function fabricateBackup(
  root: string,
  at: string,
  options: { sequence?: number; predecessor?: Fabricated | null; keyring?: string; format?: 1 | 2; id?: string; change?: (m: Manifest) => void } = {},
): Fabricated {
  const id = options.id ?? backupId(new Date(at));
  const manifest: Manifest = {
    format: options.format ?? 2,
    id,
    createdAt: new Date(at).toISOString(),
    source: { host: 'db', port: 5432, database: 'rampart' },
    serverVersion: '15.20',
    pgDumpVersion: 'pg_dump (PostgreSQL) 15.20',
    snapshot: '00000003-00000002-1',
    jobs: 2,
    migrationHead: null,
    checksumAlgorithm: 'sum64',
    databaseBytes: 0,
    dumpBytes: 0,
    timings: { dumpMs: 0, statsMs: 0, encryptMs: 0, totalMs: 0 },
    encryption: null,
    tables: [],
    files: [],
  };
  if (manifest.format === 2) {
    manifest.sourceIdentity = { systemIdentifier: '7300000000000000001', databaseOid: 16384 };
    manifest.sequence = options.sequence ?? 1;
    manifest.predecessor = options.predecessor ? { id: options.predecessor.id, digest: options.predecessor.digest } : null;
  }
  options.change?.(manifest);
  const signed = manifest.format === 2 ? { ...manifest, signature: signManifest(manifest, parseSigningKeyring(options.keyring ?? TEST_SIGNING_KEYRING)) } : manifest;
  const dir = join(root, id);
  mkdirSync(join(dir, 'dump'), { recursive: true });
  const bytes = `${JSON.stringify(signed, null, 2)}\n`;
  writeFileSync(join(dir, 'manifest.json'), bytes);
  return { id, dir, digest: createHash('sha256').update(bytes).digest('hex') };
}

/** Backups taken at `dates` (oldest first), each the successor of the one before. */
export function fabricateChain(root: string, dates: readonly string[]): Fabricated[] {
  const chain: Fabricated[] = [];
  for (const [i, at] of dates.entries()) chain.push(fabricateBackup(root, at, { sequence: i + 1, predecessor: chain[i - 1] ?? null }));
  return chain;
}
