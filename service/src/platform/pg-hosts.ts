/**
 * libpq's multiple hosts for node-postgres, which has none (brianc/node-postgres#1470, PR #3643 still
 * open): `postgres://u:p@primary:5432,replica:5432/db?target_session_attrs=read-write` names every
 * server that may be the primary; each new connection tries them in turn and keeps the first that
 * accepts writes. After a failover (the primary stopped, a replica promoted) the pool's dead
 * connections are dropped and the next ones land on the new primary — no restart, no reload
 * (docs/failover.md; the drill measures it).
 *
 * Differences from libpq, on purpose: the walk starts at the host that answered last (then wraps),
 * so a dead first host costs one refused connection per pool connection only until the first success
 * elsewhere instead of forever; a blackholed host would otherwise cost a whole connect timeout on every
 * new connection. `target_session_attrs` takes `any` (default), `read-write` and `primary`.
 */
import type pg from 'pg';

export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';
export const TARGET_SESSION_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'primary'];

export interface HostList {
  /** `host:port` of each server, for messages (never the credentials). */
  readonly labels: readonly string[];
  /** One single-host connection string per server, in the order given; target_session_attrs removed. */
  readonly urls: readonly string[];
  readonly targetSessionAttrs: TargetSessionAttrs;
}

const URL_FORM = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/i;

/**
 * The servers a connection string names. A single-host string comes back as one entry, unchanged but
 * for target_session_attrs; a keyword/value string (`host=… dbname=…`) is passed through as is.
 * Throws on an unknown target_session_attrs or an empty host entry (`a,,b`).
 */
export function parseHostList(url: string): HostList {
  const m = URL_FORM.exec(url.trim());
  if (!m) return { labels: ['(keyword/value connection string)'], urls: [url], targetSessionAttrs: 'any' };
  const [, scheme, userinfo = '', authority = '', rest = ''] = m;
  const [pathPart, query = ''] = splitOnce(rest, '?');
  const params = new URLSearchParams(query);
  const attrs = params.get('target_session_attrs') ?? 'any';
  if (!(TARGET_SESSION_ATTRS as readonly string[]).includes(attrs))
    throw new Error(`target_session_attrs=${attrs} is not supported: use one of ${TARGET_SESSION_ATTRS.join(', ')}`);
  params.delete('target_session_attrs');
  const tail = `${pathPart}${params.size > 0 ? `?${params.toString()}` : ''}`;
  const entries = authority.split(',');
  if (entries.some((e) => e.trim() === '') && entries.length > 1)
    throw new Error('the connection string names an empty host (two commas in a row?)');
  const labels: string[] = [];
  const urls: string[] = [];
  for (const entry of entries) {
    labels.push(entry === '' ? '(default host)' : withDefaultPort(entry));
    urls.push(`${scheme}${userinfo}${entry}${tail}`);
  }
  return { labels, urls, targetSessionAttrs: attrs as TargetSessionAttrs };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const i = text.indexOf(separator);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
}

function withDefaultPort(entry: string): string {
  return /:\d+$/.test(entry) && !/^\[[^\]]*\]$/.test(entry) ? entry : `${entry}:5432`;
}

/** Does an open connection satisfy `attrs`? One round trip unless `any`. */
export async function sessionMatches(client: pg.Client, attrs: TargetSessionAttrs): Promise<boolean> {
  if (attrs === 'any') return true;
  if (attrs === 'read-write') {
    const r = await client.query<{ transaction_read_only: string }>('show transaction_read_only');
    return r.rows[0]?.transaction_read_only === 'off';
  }
  const r = await client.query<{ recovery: boolean }>('select pg_catalog.pg_is_in_recovery() as recovery');
  return r.rows[0]?.recovery === false;
}

/** Thrown when no server of the list could be used; code 08001 so callers treat it as "unavailable" (503). */
export class NoSuitableHostError extends Error {
  readonly code = '08001';
  constructor(list: HostList, reasons: string[], options?: { cause?: unknown }) {
    super(
      `no ${list.targetSessionAttrs === 'any' ? 'reachable' : list.targetSessionAttrs} PostgreSQL server among ${list.labels.join(', ')}: ${reasons.join('; ')}`,
      options,
    );
    this.name = 'NoSuitableHostError';
  }
}

/**
 * Walks a host list: `connect(i)` opens a connection to server i; the first that matches the target
 * session attributes is kept, the others closed. Remembers which server answered, and starts there next.
 */
export class HostWalker {
  private preferred = 0;
  constructor(readonly list: HostList) {}

  /** Index of the server the last successful connection went to. */
  current(): number {
    return this.preferred;
  }

  async connect<C extends pg.Client>(open: (index: number) => Promise<C>, close: (client: C) => Promise<void>): Promise<C> {
    const n = this.list.urls.length;
    const start = this.preferred;
    const reasons: string[] = [];
    let lastError: unknown;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      let client: C;
      try {
        client = await open(i);
      } catch (err) {
        if (n === 1) throw err;
        lastError = err;
        reasons.push(`${this.list.labels[i]}: ${describe(err)}`);
        continue;
      }
      let matches: boolean;
      try {
        matches = await sessionMatches(client, this.list.targetSessionAttrs);
      } catch (err) {
        await close(client).catch(() => undefined);
        if (n === 1) throw err;
        lastError = err;
        reasons.push(`${this.list.labels[i]}: ${describe(err)}`);
        continue;
      }
      if (matches) {
        this.preferred = i;
        return client;
      }
      await close(client).catch(() => undefined);
      reasons.push(`${this.list.labels[i]}: not ${this.list.targetSessionAttrs} (a standby or read-only)`);
    }
    throw new NoSuitableHostError(this.list, reasons, { cause: lastError });
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${code} ${err.message}` : err.message;
}
