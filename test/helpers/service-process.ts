import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

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
}

/**
 * The real service as a child process, started as `npm start` boots it (bin/boot.js, from the sources) on free
 * ports; resolves once it logged `listening`.
 */
export async function spawnService(options: SpawnServiceOptions): Promise<ServiceProcess> {
  const imports = (options.imports ?? []).flatMap((m) => ['--import', m]);
  const child = spawn(
    process.execPath,
    [...imports, 'test/helpers/service-entry.mjs'],
    {
      env: { ...(options.inherit ?? process.env), PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited early: ${output}`);
    const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { port, metrics_port } = JSON.parse(line) as { port: number; metrics_port: number };
      return {
        baseUrl: `http://127.0.0.1:${port}`,
        metricsUrl: `http://127.0.0.1:${metrics_port}/metrics`,
        child,
        output: () => output,
        exited,
        async stop(graceMs = 15_000) {
          if (child.exitCode === null) {
            child.kill('SIGTERM');
            await Promise.race([exited, sleep(graceMs)]);
            if (child.exitCode === null) child.kill('SIGKILL');
          }
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
