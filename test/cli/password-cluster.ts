import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REQUIRE_SERVICES } from '../helpers/services.js';

const run = promisify(execFile);

/**
 * A private PostgreSQL cluster that checks passwords (SCRAM-SHA-256 for every connection). The shared
 * test server trusts 127.0.0.1, so a wrong password would log in there: tests of password rotation
 * need a server that says no. initdb/pg_ctl come from the PostgreSQL server package; as root they run
 * as the `postgres` system user (PostgreSQL refuses to run as root). log_statement=all, so a test can
 * read every statement the server saw.
 */
export interface PasswordCluster {
  readonly port: number;
  /** The superuser's URL for `database`. */
  adminUrl(database?: string): string;
  url(user: string, password: string, database: string): string;
  /** The server log so far. */
  log(): string;
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function postgresUser(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** undefined (the test skips) when the server binaries are missing — an error under REQUIRE_SERVICES. */
export async function startPasswordCluster(): Promise<PasswordCluster | undefined> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser() : undefined;
  const missing = !bin
    ? 'the PostgreSQL server binaries (initdb, pg_ctl)'
    : asRoot && !owner
      ? 'a postgres system user'
      : undefined;
  if (missing) {
    if (REQUIRE_SERVICES) throw new Error(`REQUIRE_SERVICES=1 but ${missing} are not installed`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-scram-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(join(dir, 'pwfile'), owner.uid, owner.gid);
  }
  const as = { ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' }, timeout: 120_000 };
  const port = await freePort();
  await run(
    join(bin as string, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${join(dir, 'pwfile')}`,
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ],
    as,
  );
  const settings = [
    `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir}`,
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c log_statement=all -c max_connections=40',
  ].join(' ');
  await run(join(bin as string, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', settings, 'start'], as);
  const cluster: PasswordCluster = {
    port,
    adminUrl: (database = 'postgres') => cluster.url('postgres', password, database),
    url: (user, pw, database) =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async stop() {
      await run(join(bin as string, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], as).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
