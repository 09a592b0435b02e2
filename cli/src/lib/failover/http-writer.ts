import { randomBytes } from 'node:crypto';
import { CliError } from '../errors.js';
import type { DrillWriter, WriteResult } from './drill.js';

/**
 * The drill's writes go through the service's public API, as clients' do: each is one
 * `POST /v1/conversations` of the drill account (a row in PostgreSQL, no model call), titled with the
 * run's id so an operator can tell them apart; afterwards they are deleted through the API.
 */

export interface DrillAccount {
  email: string;
  password: string;
}

/** Logs the drill account in; its access token authorises the writes (never printed). */
export async function loginDrillAccount(baseUrl: URL, account: DrillAccount, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(new URL('/v1/auth/login', baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(account),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new CliError(`the service at ${baseUrl.origin} did not answer the drill account's login: ${(err as Error).message}`, {
      code: 'service_unreachable',
    });
  }
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; mfa_required?: boolean; code?: string };
  if (res.status !== 200 || typeof body.access_token !== 'string')
    throw new CliError(
      body.mfa_required
        ? 'the drill account has MFA enabled: use an account without it (it only creates and deletes conversations)'
        : `the drill account's login was refused: ${res.status}${body.code ? ` ${body.code}` : ''}`,
      { code: 'drill_login_failed' },
    );
  return body.access_token;
}

export interface HttpWriter extends DrillWriter {
  readonly runId: string;
}

export function httpWriter(baseUrl: URL, token: string, timeoutMs: number): HttpWriter {
  const runId = randomBytes(4).toString('hex');
  const url = new URL('/v1/conversations', baseUrl);
  return {
    runId,
    async write(n: number): Promise<WriteResult> {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ title: `failover drill ${runId} #${n}` }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await res.json().catch(() => ({}))) as { id?: unknown; code?: unknown };
        if (res.status === 201 && typeof body.id === 'string') return { ok: true, id: body.id };
        return { ok: false, status: res.status, ...(typeof body.code === 'string' ? { code: body.code } : {}) };
      } catch {
        return { ok: false, status: 0 };
      }
    },
  };
}

/**
 * Deletes the run's conversations: every one of the account titled with the run's id, found through
 * the list (so a write whose answer was lost in the failover, but which committed, goes too).
 * Returns how many were deleted and how many could not be.
 */
export async function deleteDrillWrites(
  baseUrl: URL,
  token: string,
  runId: string,
  timeoutMs: number,
): Promise<{ deleted: number; failed: number }> {
  const auth = { authorization: `Bearer ${token}` };
  const prefix = `failover drill ${runId} #`;
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = new URL('/v1/conversations', baseUrl);
    page.searchParams.set('limit', '100');
    if (cursor) page.searchParams.set('cursor', cursor);
    const res = await fetch(page, { headers: auth, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200)
      throw new CliError(`listing the drill's conversations failed: ${res.status}`, { code: 'drill_cleanup_failed' });
    const body = (await res.json()) as { items: { id: string; title: string | null }[]; next_cursor: string | null };
    for (const item of body.items) if (item.title?.startsWith(prefix)) ids.push(item.id);
    cursor = body.next_cursor;
  } while (cursor);
  let deleted = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        const res = await fetch(new URL(`/v1/conversations/${encodeURIComponent(id)}`, baseUrl), {
          method: 'DELETE',
          headers: auth,
          signal: AbortSignal.timeout(timeoutMs),
        }).catch(() => undefined);
        await res?.body?.cancel();
        if (res?.status === 204 || res?.status === 404) deleted++;
        else failed++;
      }
    }),
  );
  return { deleted, failed };
}
