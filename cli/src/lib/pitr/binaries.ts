import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CliError } from '../errors.js';

type Env = Readonly<Record<string, string | undefined>>;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pgbackrest on PATH (Debian/Ubuntu: the `pgbackrest` package), else undefined. */
export function findPgBackRest(env: Env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (executable(join(dir, 'pgbackrest'))) return join(dir, 'pgbackrest');
  }
  return ['/usr/bin/pgbackrest', '/usr/local/bin/pgbackrest'].find(executable);
}

export function requirePgBackRest(env: Env): string {
  const path = findPgBackRest(env);
  if (!path) throw new CliError('pgbackrest was not found on PATH (apt-get install pgbackrest)', { code: 'tool_missing' });
  return path;
}

/**
 * pg_ctl of the server's major version (a scratch cluster restored from a 15 server needs 15's
 * binaries): Debian's /usr/lib/postgresql/<major>/bin, else PATH.
 */
export function requirePgCtl(major: number, env: Env): string {
  const candidates = [
    join('/usr/lib/postgresql', String(major), 'bin', 'pg_ctl'),
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((d) => join(d, 'pg_ctl')),
  ];
  const found = candidates.find(executable);
  if (!found)
    throw new CliError(`pg_ctl of PostgreSQL ${major} was not found (install postgresql-${major})`, { code: 'tool_missing' });
  return found;
}
