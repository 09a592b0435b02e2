import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REQUIRE_SERVICES } from './services.js';

/**
 * A PostgreSQL 15 cluster of the test's own (initdb + pg_ctl), on a free TCP port of 127.0.0.1 with
 * its unix socket in its own temp directory, so a test can stop it (immediate: a crash; fast: a clean
 * shutdown) and start it again on the same port without touching the shared server. Trust auth,
 * fsync off: it holds throwaway data, and a stopped server is not a crashed OS, so a commit that
 * reached the kernel survives. (synchronous_commit stays on: off, a crash loses commits already
 * acknowledged to clients, which the tests check never happens.)
 *
 * With `auth: 'scram-sha-256'` every connection must give its password (the shared test server
 * trusts 127.0.0.1, so a wrong password would log in there: password rotation needs a server that
 * says no); `logStatements` records every statement the server saw, for `log()`.
 *
 * PostgreSQL refuses to run as root. When the tests run as root, every PostgreSQL binary runs as the
 * `postgres` system user (spawned with its uid/gid) and the temp directory is handed to that user.
 */
export interface PrivatePostgres {
  readonly port: number;
  /** URL of `database` as `login`, else as the superuser (with its password under SCRAM). */
  url(database?: string, login?: { user: string; password: string }): string;
  /** The server log so far. */
  log(): string;
  readonly running: boolean;
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>`: immediate is a crash (no checkpoint), fast terminates sessions cleanly. */
  stop(mode: 'immediate' | 'fast'): Promise<void>;
  /**
   * SIGSTOP / SIGCONT of the postmaster and every backend: a server that keeps its TCP connections
   * open and answers nothing (a frozen host, a partition without resets).
   */
  freeze(): void;
  thaw(): void;
  /** `pg_ctl promote`: a streaming replica (started with `replicaOf`) becomes a primary; resolves once it accepts writes. */
  promote(): Promise<void>;
  /** A shell command running `pg_ctl <args>` on this cluster (as the `postgres` user when we are root), for tools that take commands. */
  pgCtlCommand(args: string): string;
  /** Stops it (if running) and removes its directory; safe to call twice and after a failed start. */
  dispose(): Promise<void>;
}

const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const PG_CTL_WAIT_SECONDS = 30;

/** The binaries exist; false (or a throw under REQUIRE_SERVICES) otherwise. */
export function privatePostgresAvailable(): boolean {
  const probe = spawnSync(join(BIN, 'initdb'), ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return true;
  if (REQUIRE_SERVICES)
    throw new Error(`REQUIRE_SERVICES=1 but ${BIN}/initdb cannot run: ${probe.error?.message ?? probe.stderr}`);
  return false;
}

/** A TCP port of 127.0.0.1 nothing listens on (at the moment it is returned). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** uid/gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
export function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as (it refuses to run as root)');
  }
}

function run(binary: string, args: string[], cwd: string, user: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      join(BIN, binary),
      args,
      {
        cwd,
        timeout: (PG_CTL_WAIT_SECONDS + 10) * 1000,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, LC_ALL: 'C' },
        ...user,
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${binary} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

export interface PrivatePostgresOptions {
  port?: number;
  auth?: 'trust' | 'scram-sha-256';
  logStatements?: boolean;
  /** max_connections (default 40: enough for one test file; a cluster shared by a whole run wants more). */
  maxConnections?: number;
  /** More postgresql.conf settings, e.g. WAL archiving: `{ archive_mode: 'on', archive_command: "'…'" }` (values as written in the file). */
  settings?: Record<string, string>;
  /**
   * A streaming replica of this running cluster instead of a new one: `pg_basebackup -R` (standby.signal
   * and primary_conninfo written), then its own port and socket. The source must allow replication
   * connections from 127.0.0.1 (initdb's default pg_hba under trust does). Anything with the port of
   * such a cluster will do: a relay in front of it (test/helpers/tcp-proxy.ts) carries the replication.
   */
  replicaOf?: Pick<PrivatePostgres, 'port'>;
  /** Serve TLS with this certificate and key (copied into the cluster's directory, owned by its user, 0600). */
  tls?: { certFile: string; keyFile: string };
}

/** Creates and starts a cluster; on any failure what was made is removed before the error propagates. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const user = runAs();
  const root = mkdtempSync(join(tmpdir(), 'rampart-pg-'));
  const data = join(root, 'data');
  const socketDir = join(root, 'sock');
  const logFile = join(root, 'server.log');
  mkdirSync(socketDir);
  if (user) for (const path of [root, socketDir]) chownSync(path, user.uid, user.gid);
  const port = options.port ?? (await freePort());
  const scram = options.auth === 'scram-sha-256';
  const superuserPassword = randomBytes(18).toString('base64url');
  let running = false;
  let disposed = false;

  const pgCtl = (args: string[]) => run('pg_ctl', ['-D', data, '-w', '-t', String(PG_CTL_WAIT_SECONDS), ...args], root, user);
  // Last resort if the test process exits without its `after` hooks (a crash, an uncaught error).
  const onExit = () => {
    if (running) spawnSync(join(BIN, 'pg_ctl'), ['-D', data, 'stop', '-m', 'immediate'], { cwd: root, ...user });
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  // Only this cluster's processes: the postmaster (first line of postmaster.pid) and its children.
  const signalCluster = (signal: 'SIGSTOP' | 'SIGCONT') => {
    const pidFile = join(data, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n', 1)[0]);
    if (!Number.isInteger(postmaster) || postmaster <= 1) return;
    const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
      .stdout.split('\n')
      .map(Number)
      .filter((pid) => Number.isInteger(pid) && pid > 1);
    // Children first when stopping (none may act on a stopped parent), parent first when resuming.
    const order = signal === 'SIGSTOP' ? [...children, postmaster] : [postmaster, ...children];
    for (const pid of order) {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
  };

  const cluster: PrivatePostgres = {
    port,
    url: (database = 'postgres', login) => {
      const who = login ?? (scram ? { user: 'postgres', password: superuserPassword } : undefined);
      const credentials = who ? `${encodeURIComponent(who.user)}:${encodeURIComponent(who.password)}` : 'postgres';
      return `postgres://${credentials}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    get running() {
      return running;
    },
    async start() {
      await pgCtl(['-l', logFile, 'start']);
      running = true;
    },
    async promote() {
      await pgCtl(['promote']);
    },
    pgCtlCommand: (args) =>
      `${user ? 'runuser -u postgres -- ' : ''}${join(BIN, 'pg_ctl')} -D '${data}' -w -t ${PG_CTL_WAIT_SECONDS} ${args}`,
    async stop(mode) {
      await pgCtl(['-m', mode, 'stop']);
      running = false;
    },
    freeze() {
      signalCluster('SIGSTOP');
    },
    thaw() {
      signalCluster('SIGCONT');
    },
    async dispose() {
      if (disposed) return;
      signalCluster('SIGCONT');
      disposed = true;
      process.removeListener('exit', onExit);
      if (running || existsSync(join(data, 'postmaster.pid'))) await pgCtl(['-m', 'immediate', 'stop']).catch(() => undefined);
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    const auth = ['-A', 'trust'];
    if (scram) {
      const pwfile = join(root, 'pwfile');
      writeFileSync(pwfile, `${superuserPassword}\n`, { mode: 0o600 });
      if (user) chownSync(pwfile, user.uid, user.gid);
      auth.splice(0, 2, '--auth=scram-sha-256', `--pwfile=${pwfile}`);
    }
    if (options.replicaOf) {
      const source = options.replicaOf;
      await run(
        'pg_basebackup',
        ['-d', `host=127.0.0.1 port=${source.port} user=postgres`, '-D', data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
        root,
        user,
      );
    } else await run('initdb', ['-D', data, '-U', 'postgres', ...auth, '-E', 'UTF8', '--locale=C', '--no-sync'], root, user);
    if (options.tls) {
      for (const [from, to] of [
        [options.tls.certFile, 'server.crt'],
        [options.tls.keyFile, 'server.key'],
      ] as const) {
        copyFileSync(from, join(root, to));
        chmodSync(join(root, to), 0o600);
        if (user) chownSync(join(root, to), user.uid, user.gid);
      }
    }
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${socketDir}'`,
        'fsync = off',
        'full_page_writes = off',
        'shared_buffers = 16MB',
        `max_connections = ${options.maxConnections ?? 40}`,
        ...(options.logStatements ? ['log_statement = all'] : []),
        ...(options.tls ? ['ssl = on', `ssl_cert_file = '${join(root, 'server.crt')}'`, `ssl_key_file = '${join(root, 'server.key')}'`] : []),
        ...Object.entries(options.settings ?? {}).map(([name, value]) => `${name} = ${value}`),
        '',
      ].join('\n'),
    );
    await cluster.start();
    return cluster;
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    await cluster.dispose();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
}
