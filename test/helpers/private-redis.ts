import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REQUIRE_SERVICES } from './services.js';
import { freePort } from './private-postgres.js';

/**
 * A redis-server of the test's own (`--save '' --appendonly no`: nothing persists), a child of the
 * test process on a free port of 127.0.0.1, which the test can kill (SIGKILL: it vanishes without a
 * word), freeze (SIGSTOP: connections stay open and nothing answers) and start again on the same port.
 */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  /** SIGSTOP: the server stops answering but keeps its connections open. */
  freeze(): void;
  thaw(): void;
  /** Kills it if running and removes its directory; safe to call twice. */
  dispose(): Promise<void>;
}

const BINARY = process.env.REDIS_SERVER_BIN ?? 'redis-server';

export function privateRedisAvailable(): boolean {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return true;
  if (REQUIRE_SERVICES) throw new Error(`REQUIRE_SERVICES=1 but ${BINARY} cannot run: ${probe.error?.message ?? probe.stderr}`);
  return false;
}

/** One PING over a raw socket (TLS when `tls`, the server's certificate unchecked: liveness only): true on +PONG within 500 ms. */
function ping(port: number, tls = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

export interface PrivateRedisOptions {
  /** Serve TLS only (`--tls-port`, no plaintext port, no client certificates): the URL is rediss://. */
  tls?: { certFile: string; keyFile: string };
}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGCONT'); // a frozen server must be able to die
    running.kill('SIGKILL');
    await exited;
  };
  const redis: PrivateRedis = {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async start() {
      output = '';
      const started = spawn(
        BINARY,
        [
          ...(options.tls
            ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile, '--tls-auth-clients', 'no']
            : ['--port', String(port)]),
          ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = started;
      started.stdout?.on('data', (c) => (output += c));
      started.stderr?.on('data', (c) => (output += c));
      const deadline = Date.now() + 10_000;
      while (!(await ping(port, options.tls !== undefined))) {
        if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}: ${output}`);
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${output}`);
        await sleep(25);
      }
    },
    kill,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    async dispose() {
      process.removeListener('exit', onExit);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await redis.start();
    return redis;
  } catch (err) {
    await redis.dispose();
    throw err;
  }
}
