import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { CliError } from '../errors.js';
import { libpqEnv } from './pg-tools.js';
import { withClient } from './restore.js';

/**
 * `backup restore` never writes into the live database (the configured DATABASE_URL). Comparing the
 * URLs as text let `localhost` pass for `127.0.0.1` (issue 22), so two independent checks decide:
 *
 * 1. Where the URLs lead: each host resolved to its addresses (dns lookup, all of them), with every
 *    spelling of this machine — `localhost`, 127.0.0.0/8, `::1`, `[::1]`, a unix socket directory,
 *    an address of one of its interfaces — counted as one host; the same host, port and database
 *    name is the same database.
 * 2. What the databases are: the cluster's `system_identifier` (pg_control_system()) and the
 *    database's OID, read from both. Equal means the same database behind any spelling (a DNS alias,
 *    a proxy, another address of the server).
 *
 * If the live database cannot be reached (restoring because it is gone), check 2 is skipped with a
 * warning: refusing then would block the very recovery a backup exists for, and check 1 still holds.
 */

export interface DatabaseIdentity {
  systemIdentifier: string;
  databaseOid: string;
}

export interface TargetGuardDeps {
  /** Every address `host` resolves to. */
  lookupAll(host: string): Promise<string[]>;
  /** Addresses of this machine's interfaces. */
  localAddresses(): string[];
  identity(url: string): Promise<DatabaseIdentity>;
}

export class TargetIsLiveError extends CliError {
  constructor(target: string, why: string) {
    super(`refusing to restore into ${target}: it is the configured DATABASE_URL (the live database) — ${why}`, {
      code: 'target_is_source',
    });
  }
}

export const defaultTargetGuardDeps: TargetGuardDeps = {
  lookupAll: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
  localAddresses: () =>
    Object.values(networkInterfaces())
      .flat()
      .flatMap((i) => (i ? [i.address] : [])),
  identity: databaseIdentityOf,
};

export async function databaseIdentityOf(url: string): Promise<DatabaseIdentity> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ system_identifier: string; oid: string }>(
      `select (select system_identifier::text from pg_control_system()) as system_identifier,
              (select oid::text from pg_database where datname = current_database()) as oid`,
    );
    const row = rows[0] as { system_identifier: string; oid: string };
    return { systemIdentifier: row.system_identifier, databaseOid: row.oid };
  });
}

/** Throws TargetIsLiveError when `targetUrl` is the live database; returns warnings to print. */
export async function assertTargetIsNotLive(
  liveUrl: string | undefined,
  targetUrl: string,
  deps: TargetGuardDeps = defaultTargetGuardDeps,
): Promise<{ warnings: string[] }> {
  if (!liveUrl) return { warnings: [] };
  const live = endpointOf(liveUrl);
  const target = endpointOf(targetUrl);
  const name = `${target.host}:${target.port}/${target.database}`;
  const [liveHosts, targetHosts] = await Promise.all([resolveHost(live.host, deps), resolveHost(target.host, deps)]);
  const sameHost = [...targetHosts].some((h) => liveHosts.has(h));
  if (sameHost && live.port === target.port && live.database === target.database) {
    throw new TargetIsLiveError(name, `the same host, port ${target.port} and database ${target.database}`);
  }
  const targetIdentity = await deps.identity(targetUrl);
  let liveIdentity: DatabaseIdentity;
  try {
    liveIdentity = await deps.identity(liveUrl);
  } catch (err) {
    return {
      warnings: [`could not read the live database's identity (${(err as Error).message}): compared by host, port and name only`],
    };
  }
  if (
    liveIdentity.systemIdentifier === targetIdentity.systemIdentifier &&
    liveIdentity.databaseOid === targetIdentity.databaseOid
  ) {
    throw new TargetIsLiveError(
      name,
      `the same cluster (system identifier ${targetIdentity.systemIdentifier}) and database (OID ${targetIdentity.databaseOid})`,
    );
  }
  return { warnings: [] };
}

interface Endpoint {
  host: string;
  port: number;
  database: string;
}

/** Where a URL connects, as node-postgres and libpq read it (a `?host=` socket directory wins). */
function endpointOf(url: string): Endpoint {
  const env = libpqEnv(url);
  const socketDir = new URL(url).searchParams.get('host');
  return {
    host: socketDir ?? env.PGHOST ?? 'localhost',
    port: Number(env.PGPORT ?? 5432),
    database: env.PGDATABASE ?? env.PGUSER ?? '',
  };
}

const THIS_MACHINE = 'this machine';

/** The set of addresses a host names; every spelling of this machine becomes one value. */
async function resolveHost(host: string, deps: TargetGuardDeps): Promise<Set<string>> {
  if (host.startsWith('/')) return new Set([THIS_MACHINE]); // a unix socket directory
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || isLoopback(bare)) return new Set([THIS_MACHINE]);
  let addresses: string[];
  try {
    addresses = isIP(bare) ? [bare] : await deps.lookupAll(bare);
  } catch {
    addresses = [bare]; // unresolvable: only the same spelling can match; connecting will fail anyway
  }
  const local = new Set(deps.localAddresses().map((a) => a.toLowerCase()));
  return new Set(addresses.map((a) => a.toLowerCase()).map((a) => (isLoopback(a) || local.has(a) ? THIS_MACHINE : a)));
}

function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) return address === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(address) || /^::ffff:127\./.test(address);
  return false;
}
