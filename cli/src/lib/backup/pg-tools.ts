import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseHostList } from '../../../../service/src/public/db.js';
import { CliError } from '../errors.js';

/**
 * The PostgreSQL client programs (pg_dump, pg_restore, pg_amcheck) run as children without a shell.
 * The connection travels in libpq's environment variables, never in argv: a command line is visible
 * to every user of the host in `ps`, a process's environment is not.
 */

export type PgTool = 'pg_dump' | 'pg_restore' | 'pg_amcheck';

/** libpq environment for a `postgres://` URL: https://www.postgresql.org/docs/15/libpq-envars.html */
export function libpqEnv(url: string): Record<string, string> {
  let u: URL;
  if (severalHosts(url))
    throw new CliError('the database URL names several hosts: name the one server to use (the primary, or a replica for a backup)', {
      code: 'invalid_database_url',
    });
  try {
    u = new URL(url);
  } catch {
    throw new CliError('the database URL does not parse as a URL (postgres://user:password@host:port/database)', {
      code: 'invalid_database_url',
    });
  }
  const env: Record<string, string> = {};
  const host = decodeURIComponent(u.hostname) || u.searchParams.get('host');
  if (host) env.PGHOST = host;
  if (u.port) env.PGPORT = u.port;
  else if (u.searchParams.get('port')) env.PGPORT = u.searchParams.get('port') as string;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  const params: Record<string, string> = {
    sslmode: 'PGSSLMODE',
    sslrootcert: 'PGSSLROOTCERT',
    sslcert: 'PGSSLCERT',
    sslkey: 'PGSSLKEY',
    application_name: 'PGAPPNAME',
    connect_timeout: 'PGCONNECT_TIMEOUT',
  };
  for (const [param, name] of Object.entries(params)) {
    const value = u.searchParams.get(param);
    if (value) env[name] = value;
  }
  return env;
}

/** The same server, another database (the scratch database of a drill, a restore target's admin). */
export function withDatabaseName(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** host:port/database, never the credentials: how two URLs are compared and how targets are named. */
export function databaseIdentity(url: string): string {
  const env = libpqEnv(url);
  return `${env.PGHOST ?? 'localhost'}:${env.PGPORT ?? '5432'}/${env.PGDATABASE ?? env.PGUSER ?? ''}`;
}

/**
 * Finds a client program on PATH, then in Debian's versioned directories (`pg_amcheck` is not
 * linked into /usr/bin there). Returns undefined when the program is not installed.
 */
export function findTool(tool: PgTool, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => join('/usr/lib/postgresql', v, 'bin')));
  } catch {
    // not a Debian layout
  }
  for (const dir of dirs) {
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export function requireTool(tool: PgTool, env: Readonly<Record<string, string | undefined>>): string {
  const path = findTool(tool, env);
  if (!path) throw new CliError(`${tool} was not found on PATH (install the PostgreSQL client tools)`, { code: 'tool_missing' });
  return path;
}

export interface ToolRun {
  stdout: string;
  stderr: string;
}

/**
 * The only variables a child takes from the parent's environment. Everything else stays behind: the
 * parent holds secrets (`*_KEY`, `*_SECRET`, `*_FILE`, `*_REF`, `DATABASE_URL`, `AWS_*`, `VAULT_*` …)
 * that pg_dump and friends never need, and inherited `PG*` variables would point the child at another
 * connection than the one we give it. The connection comes only from `options.connection`, as the
 * libpq variables of `libpqEnv` (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSL*, …).
 */
const INHERITED = ['PATH'] as const;

/** The whole environment of a child client program: PATH, plus the libpq variables of its connection. */
export function toolEnv(parent: Readonly<Record<string, string | undefined>>, connection?: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of INHERITED) {
    const v = parent[k];
    if (v !== undefined) env[k] = v;
  }
  if (connection) Object.assign(env, libpqEnv(connection));
  return env;
}

/**
 * Runs a client program with the connection in its environment. Rejects with the program's stderr
 * (its last lines) when it exits non-zero; `signal` kills it (Ctrl-C during a drill).
 */
export interface ToolProgress {
  /** Each whole line the tool writes on stderr that `matches`, as it is written. */
  readonly onLine: (line: string) => void;
  /** Progress lines (`--verbose`): handed to onLine and left out of stderr and error messages. */
  readonly matches: RegExp;
}

export function runTool(
  path: string,
  args: readonly string[],
  options: { env: Readonly<Record<string, string | undefined>>; connection?: string; signal?: AbortSignal; progress?: ToolProgress },
): Promise<ToolRun> {
  const env = toolEnv(options.env, options.connection);
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      const progress = options.progress;
      if (!progress) {
        stderr += s;
        return;
      }
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (progress.matches.test(line)) progress.onLine(line);
        else stderr += `${line}\n`;
      }
    });
    child.stderr.on('end', () => {
      if (partial !== '') stderr += partial;
    });
    child.on('error', (err) => reject(new CliError(`${toolName(path)} could not run: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ stdout, stderr });
      // From the tool's first `error:` line (a statement it quotes after it can run long), else the end.
      const lines = stderr.trim().split('\n');
      const firstError = lines.findIndex((line) => /^[\w.-]+: error: /.test(line));
      const tail = (firstError >= 0 ? lines.slice(firstError, firstError + 3) : lines.slice(-5)).join('\n');
      const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
      reject(new CliError(`${toolName(path)} ${how}${tail ? `:\n${tail}` : ''}`, { code: 'tool_failed' }));
    });
  });
}

function toolName(path: string): string {
  return path.split('/').pop() ?? path;
}

/** `pg_dump (PostgreSQL) 15.20 (Debian …)` → the whole first line. */
export async function toolVersion(path: string, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const { stdout } = await runTool(path, ['--version'], { env });
  return stdout.trim().split('\n')[0] ?? '';
}

/** Whether a URL names several servers (libpq's multi-host form); one that does not parse names none. */
function severalHosts(url: string): boolean {
  try {
    return parseHostList(url).urls.length > 1;
  } catch {
    return false;
  }
}
