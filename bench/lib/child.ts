import { type ChildProcess, spawn } from 'node:child_process';

export interface BenchChild {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs a bench helper (a TypeScript entry under bench/lib) in its own Node process — its own event
 * loop, as the service has — and resolves once it printed `{"port": N}` on stdout.
 */
export function startChild(entry: string, env: Record<string, string>): Promise<BenchChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${entry} did not start: ${out}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}: ${out}`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"port"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({ port: (JSON.parse(line) as { port: number }).port, child, stop });
    });
  });
}

/** The port line a helper prints once listening, and an orderly exit on SIGTERM. */
export function announce(port: number, close: () => Promise<void>): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.once('SIGTERM', () => {
    void close().finally(() => process.exit(0));
  });
}
