import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './wait.js';

export interface ServiceProcess {
  readonly baseUrl: string;
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface SpawnServiceOptions {
  env: Record<string, string>;
  /** `--import` modules loaded before the service's entry point (probes). */
  imports?: string[];
  /** The environment the child inherits (default: this process's). */
  inherit?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /**
   * The entry point: the test entry (bin/boot.js from the sources, whatever NODE_ENV says) by default;
   * the benches run `bin/rampart.js`, as `npm start` and the image do.
   */
  entry?: string;
  /** Node flags before the entry (the benches' BENCH_NODE_ARGS, e.g. --cpu-prof). */
  nodeArgs?: string[];
  /**
   * Write the process's output to this file instead of pipes this process must drain (the benches:
   * reading the request log would be work the baseline does not do); `output()` reads the file.
   */
  logFile?: string;
}

/**
 * The real service as a child process on free ports — the one way the tests and the benches start it;
 * resolves once it logged `listening`.
 */
export async function spawnService(options: SpawnServiceOptions): Promise<ServiceProcess> {
  const imports = (options.imports ?? []).flatMap((m) => ['--import', m]);
  const logFd = options.logFile ? openSync(options.logFile, 'w') : undefined;
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), ...imports, options.entry ?? 'test/helpers/service-entry.mjs'],
    {
      env: { ...(options.inherit ?? process.env), PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1', ...options.env },
      stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    },
  );
  if (logFd !== undefined) closeSync(logFd);
  let piped = '';
  child.stdout?.on('data', (d) => (piped += d));
  child.stderr?.on('data', (d) => (piped += d));
  const readOutput = () => {
    if (!options.logFile) return piped;
    try {
      return readFileSync(options.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    const output = readOutput();
    if (child.exitCode !== null) throw new Error(`service exited early: ${output}`);
    const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { port, metrics_port, tls } = JSON.parse(line) as { port: number; metrics_port: number; tls?: boolean };
      // TLS_CERT_FILE set: both listeners speak HTTPS (fetch them with the test's CA: test/helpers/tls-certificate.ts).
      const scheme = tls ? 'https' : 'http';
      return {
        baseUrl: `${scheme}://127.0.0.1:${port}`,
        metricsUrl: `${scheme}://127.0.0.1:${metrics_port}/metrics`,
        child,
        output: readOutput,
        exited,
        async stop(graceMs = 15_000) {
          await stopChild(child, graceMs);
          return exited;
        },
      };
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not start: ${output}`);
    }
    await sleep(50);
  }
}
