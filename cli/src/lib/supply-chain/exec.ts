import { execFile } from 'node:child_process';

/** The outcome of a child process run without a shell; a non-zero exit is data, not an exception. */
export interface ExecResult {
  /** Exit code; null when the process was killed (timeout) or could not start. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export interface ExecOptions {
  cwd?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Bytes of stdout/stderr kept; npm ls and SBOMs of a large tree are several MiB. */
  maxBuffer?: number;
}

/** Runs `file args…` with execFile: arguments are never interpreted by a shell. */
export function runFile(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs ?? 0,
        maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
        encoding: 'utf8',
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr, timedOut: false });
        const e = error as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string | null };
        const spawnFailed = e.code === 'ENOENT' || e.code === 'EACCES';
        resolve({
          code: typeof e.code === 'number' ? e.code : null,
          stdout: stdout ?? '',
          stderr: stderr ?? '',
          timedOut: e.killed === true && e.signal === 'SIGTERM' && (options.timeoutMs ?? 0) > 0,
          ...(spawnFailed ? { spawnError: error } : {}),
        });
      },
    );
  });
}
