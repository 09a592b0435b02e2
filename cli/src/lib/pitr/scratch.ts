import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { withSession } from '../../../../service/src/public/db.js';
import { CliError, UsageError } from '../errors.js';
import { execTool, type OsUser } from './exec.js';
import type { PgBackRest } from './pgbackrest.js';

/**
 * A scratch PostgreSQL cluster restored from the pgBackRest repository: `pgbackrest restore` into an
 * empty directory, archiving off (a copy must never push WAL into the live stanza's archive), reachable
 * only through a unix socket in its own directory (no TCP: it is a copy of production with trust
 * authentication for its owner), started, and recovered to the target. Never the live cluster.
 */
export type RecoveryTarget = { kind: 'time'; time: string } | { kind: 'latest' };

export interface ScratchCluster {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  /** A URL of the restored copy: the live URL's user and database, through the socket. */
  readonly url: string;
  readonly restoreMs: number;
  readonly recoveryMs: number;
  /** Stops it (immediate) and removes its directory; safe to call twice. */
  dispose(): Promise<void>;
  /** The server log's last lines (why recovery failed). */
  logTail(): string;
}

export interface ScratchOptions {
  pgbackrest: PgBackRest;
  pgCtl: string;
  user: OsUser | undefined;
  /** Directory to create the scratch cluster in (must not exist, or be empty). */
  dir: string;
  port: number;
  live: { dataDirectory: string; port: number; url: string };
  target: RecoveryTarget;
  timeoutMs: number;
  signal?: AbortSignal;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

/** Refuses a target that is (or is inside, or holds) the live data directory, or the live port. */
export function refuseLiveTarget(dir: string, port: number, live: { dataDirectory: string; port: number }): void {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const target = real(dir);
  const data = real(live.dataDirectory);
  if (target === data || target.startsWith(`${data}/`) || data.startsWith(`${target}/`)) {
    throw new UsageError(
      `refusing to restore into ${dir}: it is, holds or lies inside the live data directory ${live.dataDirectory}`,
    );
  }
  if (port === live.port) throw new UsageError(`refusing port ${port}: the live server listens on it`);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`refusing to restore into ${dir}: it is not empty`);
}

export async function freeLocalPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

export async function restoreScratch(options: ScratchOptions): Promise<ScratchCluster> {
  refuseLiveTarget(options.dir, options.port, options.live);
  const root = resolve(options.dir);
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  const logFile = join(root, 'server.log');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(socketDir, { mode: 0o700 });
  if (options.user) for (const p of [root, dataDir, socketDir]) chownSync(p, options.user.uid, options.user.gid);
  // A parent directory the cluster's OS user cannot traverse (root's 0700 home, a private temp dir) would
  // fail deep inside pgBackRest with "Permission denied": say so first, in words.
  await execTool('/usr/bin/test', ['-w', dataDir, '-a', '-x', dataDir], { user: options.user, timeoutMs: 10_000 }).catch(() => {
    rmSync(root, { recursive: true, force: true });
    throw new UsageError(
      `the cluster's OS user${options.user ? ` (uid ${options.user.uid})` : ''} cannot reach ${dataDir}: choose a directory it can traverse (e.g. under /var/tmp)`,
    );
  });
  const pgCtl = (args: string[], timeoutMs: number) =>
    execTool(options.pgCtl, ['-D', dataDir, ...args], {
      user: options.user,
      env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
      timeoutMs,
    });
  let started = false;
  let disposed = false;
  const live = new URL(options.live.url);
  const url = `postgres://${encodeURIComponent(decodeURIComponent(live.username) || 'postgres')}@/${live.pathname.replace(/^\//, '') || 'postgres'}?host=${encodeURIComponent(socketDir)}&port=${options.port}`;
  const cluster: ScratchCluster = {
    dataDir,
    socketDir,
    port: options.port,
    url,
    restoreMs: 0,
    recoveryMs: 0,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (started || existsSync(join(dataDir, 'postmaster.pid'))) {
        await pgCtl(['-m', 'immediate', '-w', '-t', '30', 'stop'], 40_000).catch(() => undefined);
      }
      rmSync(root, { recursive: true, force: true });
    },
    logTail: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-8).join('\n') : ''),
  };
  try {
    let t = performance.now();
    const targetArgs =
      options.target.kind === 'time'
        ? ['--type=time', `--target=${options.target.time}`, '--target-action=promote']
        : ['--type=default'];
    await options.step(`Restoring the newest usable backup into ${dataDir} (pgbackrest restore)`, () =>
      options.pgbackrest.run('restore', [`--pg1-path=${dataDir}`, '--archive-mode=off', ...targetArgs], {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      }),
    );
    const restoreMs = Math.round(performance.now() - t);
    writeScratchConfig(dataDir, root, socketDir, options.port, options.user);
    t = performance.now();
    const waitSeconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    await options.step(
      options.target.kind === 'time'
        ? `Starting it and replaying WAL up to ${options.target.time}`
        : 'Starting it and replaying all archived WAL',
      async () => {
        started = true;
        await pgCtl(['-l', logFile, '-w', '-t', String(waitSeconds), 'start'], options.timeoutMs + 10_000);
        await waitForPromotion(url, performance.now() + options.timeoutMs, options.signal);
      },
    );
    return Object.assign(cluster, { restoreMs, recoveryMs: Math.round(performance.now() - t) });
  } catch (err) {
    const tail = cluster.logTail();
    await cluster.dispose();
    if (err instanceof CliError)
      throw new CliError(`${err.message}${tail ? `\nscratch server log:\n${tail}` : ''}`, { code: err.code });
    throw new CliError(`${(err as Error).message}${tail ? `\nscratch server log:\n${tail}` : ''}`, { code: 'restore_failed' });
  }
}

/**
 * The scratch cluster's own settings, after the restored ones (postgresql.auto.conf wins): its port and
 * socket, no TCP, no archiving, and its own pg_hba.conf trusting local connections only (the socket
 * directory is its owner's alone). A cluster whose configuration lived outside its data directory
 * (Debian's /etc/postgresql) gets an empty postgresql.conf.
 */
function writeScratchConfig(dataDir: string, root: string, socketDir: string, port: number, user: OsUser | undefined): void {
  const own = (path: string) => user && chownSync(path, user.uid, user.gid);
  const conf = join(dataDir, 'postgresql.conf');
  if (!existsSync(conf)) {
    writeFileSync(conf, '');
    own(conf);
  }
  const hba = join(root, 'pg_hba.conf');
  writeFileSync(hba, 'local all all trust\n');
  own(hba);
  appendFileSync(
    join(dataDir, 'postgresql.auto.conf'),
    [
      '',
      '# secops pitr: scratch cluster',
      `port = ${port}`,
      "listen_addresses = ''",
      `unix_socket_directories = '${socketDir}'`,
      `hba_file = '${hba}'`,
      "archive_mode = 'off'",
      "archive_command = ''",
      // Socket only: no TLS to set up (the live server's certificate paths may not exist here).
      'ssl = off',
      // A copy of a server with large shared_buffers must still start on a small host. (max_connections and
      // the worker limits stay: hot-standby recovery refuses values lower than the primary's.)
      "shared_buffers = '32MB'",
      '',
    ].join('\n'),
  );
}

/** Recovery is done when the server, having reached its target, promotes and leaves recovery. */
async function waitForPromotion(url: string, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    signal?.throwIfAborted();
    try {
      const done = await withSession(
        url,
        { applicationName: 'secops-pitr', connectTimeoutMs: 2000, queryTimeoutMs: 2000 },
        async (s) => {
          const { rows } = await s.client.query<{ r: boolean }>('select pg_is_in_recovery() as r');
          return rows[0]?.r === false;
        },
      );
      if (done) return;
      last = 'still in recovery';
    } catch (err) {
      last = (err as Error).message;
    }
    // Polling another process: its progress has no event we can wait on.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`recovery did not finish in time (${last})`, { code: 'recovery_timeout' });
}
