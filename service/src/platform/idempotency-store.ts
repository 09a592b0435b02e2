import type { Clock } from './clock.js';
import type { Knex } from './db.js';

/** An answer kept with its key and replayed to retries. */
export interface StoredAnswer {
  status: number;
  /** The headers that belong to the answer (Content-Type, Location…); never X-Request-Id. */
  headers: Record<string, string>;
  body: string;
}

/** Who a key belongs to and what it names: the key's SHA-256, never the key. */
export interface KeyScope {
  userId: string;
  route: string;
  keyHash: Buffer;
}

export type Claim =
  /** This request holds the key: run it, then `complete` or `release` with this `claimedAt`. */
  | { kind: 'claimed'; claimedAt: Date }
  /** Another request with the same key is still running. */
  | { kind: 'in_progress'; sameRequest: boolean }
  | { kind: 'done'; sameRequest: boolean; answer: StoredAnswer };

interface KeyRow {
  request_hash: Buffer;
  status: 'in_progress' | 'done';
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
  created_at: Date;
}

/**
 * Idempotency keys in PostgreSQL (table idempotency_keys), on the injected clock. A claim is one
 * `insert … on conflict do update … where expired`: of two concurrent requests with one key exactly
 * one gets the row (the other waits for its row lock, sees it live and is told `in_progress`), and an
 * expired row — a finished answer past its TTL, or a claim whose holder died past its lease — counts
 * as absent. `complete` and `release` touch the row only while it is still this claim's (same
 * `created_at`), so a holder that outlived its lease never overwrites a newer claim.
 */
export function createIdempotencyStore(options: { knex: Knex; clock: Clock; ttlSeconds: number; leaseSeconds: number }) {
  const { knex, clock, ttlSeconds, leaseSeconds } = options;
  const inSeconds = (s: number) => new Date(clock.now().getTime() + s * 1000);
  const own = (scope: KeyScope, claimedAt: Date) =>
    knex('idempotency_keys').where({ user_id: scope.userId, route: scope.route, key_hash: scope.keyHash, status: 'in_progress', created_at: claimedAt });

  async function claim(scope: KeyScope, requestHash: Buffer): Promise<Claim> {
      const now = clock.now();
      const inserted = await knex.raw(
        `insert into idempotency_keys (user_id, route, key_hash, request_hash, status, created_at, expires_at)
         values (?, ?, ?, ?, 'in_progress', ?, ?)
         on conflict (user_id, route, key_hash) do update
           set request_hash = excluded.request_hash, status = 'in_progress', response_status = null,
               response_headers = null, response_body = null, created_at = excluded.created_at,
               expires_at = excluded.expires_at
           where idempotency_keys.expires_at <= ?
         returning created_at`,
        [scope.userId, scope.route, scope.keyHash, requestHash, now, inSeconds(leaseSeconds), now],
      );
      if (inserted.rows.length === 1) return { kind: 'claimed', claimedAt: now };
      const row = (await knex('idempotency_keys')
        .where({ user_id: scope.userId, route: scope.route, key_hash: scope.keyHash })
        .first('request_hash', 'status', 'response_status', 'response_headers', 'response_body', 'created_at')) as KeyRow | undefined;
      // Gone between the two statements (released, or purged): the key is free again.
      if (!row) return claim(scope, requestHash);
      const sameRequest = row.request_hash.equals(requestHash);
      if (row.status === 'in_progress') return { kind: 'in_progress', sameRequest };
      return {
        kind: 'done',
        sameRequest,
        answer: { status: row.response_status ?? 500, headers: row.response_headers ?? {}, body: row.response_body ?? '' },
      };
  }

  return {
    claim,

    /** Stores the answer with the key for the TTL, counted from now. */
    async complete(scope: KeyScope, claimedAt: Date, answer: StoredAnswer): Promise<void> {
      await own(scope, claimedAt).update({
        status: 'done',
        response_status: answer.status,
        response_headers: JSON.stringify(answer.headers),
        response_body: answer.body,
        expires_at: inSeconds(ttlSeconds),
      });
    },

    /** Frees the key (the first request failed or was abandoned): a retry runs again. */
    async release(scope: KeyScope, claimedAt: Date): Promise<void> {
      await own(scope, claimedAt).delete();
    },

    /** Deletes expired rows, at most `batch` at a time; how many went. */
    async purgeExpired(batch = 1000): Promise<number> {
      const r = await knex.raw(
        `delete from idempotency_keys where ctid in (select ctid from idempotency_keys where expires_at <= ? limit ?)`,
        [clock.now(), batch],
      );
      return r.rowCount ?? 0;
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
