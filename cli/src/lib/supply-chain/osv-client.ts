import { CliError } from '../errors.js';
import type { OsvRecord } from './advisories.js';

/**
 * OSV's API (https://google.github.io/osv.dev/api/): `POST /v1/querybatch` answers, per query, the
 * ids of the advisories that match (paged with `next_page_token`); `GET /v1/vulns/{id}` answers one
 * full record. The batch endpoint returns ids only, hence the second step.
 */
export interface OsvQuery {
  package: { name: string; ecosystem: string };
  /** With a version: the advisories affecting it; without: every advisory about the package. */
  version?: string;
}

interface BatchAnswer {
  results?: { vulns?: { id: string }[]; next_page_token?: string }[];
}

/** The querybatch endpoint takes at most 1000 queries per request. */
const BATCH = 1000;
const PARALLEL_RECORDS = 8;

export async function osvIdsFor(
  baseUrl: string,
  queries: readonly OsvQuery[],
  fetchImpl: typeof fetch = fetch,
): Promise<string[]> {
  const ids = new Set<string>();
  let pending: { query: OsvQuery; pageToken?: string }[] = queries.map((query) => ({ query }));
  while (pending.length > 0) {
    const next: typeof pending = [];
    for (let start = 0; start < pending.length; start += BATCH) {
      const chunk = pending.slice(start, start + BATCH);
      const body = { queries: chunk.map((p) => ({ ...p.query, ...(p.pageToken ? { page_token: p.pageToken } : {}) })) };
      const answer = (await osvJson(fetchImpl, `${baseUrl}/v1/querybatch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })) as BatchAnswer;
      if (!Array.isArray(answer.results) || answer.results.length !== chunk.length)
        throw new CliError(`${baseUrl}/v1/querybatch: expected ${chunk.length} results`);
      answer.results.forEach((result, i) => {
        for (const v of result.vulns ?? []) ids.add(v.id);
        if (result.next_page_token) next.push({ query: chunk[i]!.query, pageToken: result.next_page_token });
      });
    }
    pending = next;
  }
  return [...ids].sort();
}

export async function osvRecords(baseUrl: string, ids: readonly string[], fetchImpl: typeof fetch = fetch): Promise<OsvRecord[]> {
  const records: OsvRecord[] = [];
  for (let start = 0; start < ids.length; start += PARALLEL_RECORDS) {
    const batch = ids.slice(start, start + PARALLEL_RECORDS);
    const fetched = await Promise.all(
      batch.map((id) => osvJson(fetchImpl, `${baseUrl}/v1/vulns/${encodeURIComponent(id)}`, { method: 'GET' })),
    );
    for (const [i, record] of fetched.entries()) {
      const r = record as OsvRecord;
      if (r?.id !== batch[i] || !Array.isArray(r.affected))
        throw new CliError(`${baseUrl}/v1/vulns/${batch[i]}: not an OSV record`);
      records.push(r);
    }
  }
  return records;
}

async function osvJson(fetchImpl: typeof fetch, url: string, init: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot reach ${url}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new CliError(`${url}: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new CliError(`${url}: the answer is not JSON`);
  }
}
