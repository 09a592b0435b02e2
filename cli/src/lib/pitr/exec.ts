import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { CliError } from '../errors.js';

/**
 * pgBackRest and pg_ctl run as the OS user owning the database cluster: PostgreSQL refuses root, and
 * pgBackRest writes repository files the server's own `archive-push` must later read and extend. When
 * secops runs as root (a container, a CI job) the child is spawned with that owner's uid/gid; otherwise
 * it runs as us, and we must be that owner.
 */
export interface OsUser {
  uid: number;
  gid: number;
}

/** The owner of `path` when we are root and it is someone else; undefined: run as ourselves. */
export function ownerToRunAs(path: string): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const { uid, gid } = statSync(path);
  return uid === 0 ? undefined : { uid, gid };
}

export interface ExecOptions {
  env?: Readonly<Record<string, string | undefined>>;
  user?: OsUser;
  signal?: AbortSignal;
  /** The child is killed after this long (every wait is bounded). */
  timeoutMs: number;
  cwd?: string;
}

/** Runs `path args` without a shell; rejects with the last lines of stderr when it fails or times out. */
export function execTool(
  path: string,
  args: readonly string[],
  options: ExecOptions,
): Promise<{ stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const name = path.split('/').pop() ?? path;
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, {
      env,
      cwd: options.cwd ?? '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
      ...options.user,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', (err) =>
      reject(new CliError(`${name} could not run: ${err.message}`, { code: 'tool_failed', cause: err })),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ stdout, stderr });
      const tail = `${stderr}\n${stdout}`.trim().split('\n').slice(-6).join('\n');
      const how = signal
        ? `was killed (${signal}${signal === 'SIGTERM' ? `, after ${options.timeoutMs} ms?` : ''})`
        : `exited with code ${code}`;
      reject(
        new CliError(`${name} ${args.filter((a) => !a.startsWith('--config')).join(' ')} ${how}${tail ? `:\n${tail}` : ''}`, {
          code: 'tool_failed',
        }),
      );
    });
  });
}
