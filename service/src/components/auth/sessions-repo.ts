import type { Knex } from '../../platform/db.js';

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  ip: string | null;
  user_agent: string | null;
}

export interface RefreshTokenRow {
  id: string;
  session_id: string;
  parent_id: string | null;
  expires_at: Date;
  rotated_at: Date | null;
  user_id: string;
  session_revoked_at: Date | null;
  session_expires_at: Date;
  auth_time: Date;
  amr: string[];
  session_created_at: Date;
}

/** What `openPasswordLogin` did. */
export type PasswordLoginWrite =
  | { outcome: 'opened'; sessionId: string; evicted: string[] }
  | { outcome: 'second_factor' }
  | { outcome: 'password_changed' };

/** Data access for sessions and their refresh-token chains; plain rows in and out. */
export function createSessionsRepo(knex: Knex) {
  return {
    /**
     * A session and its first refresh token, in one statement, opened only while the user's stored
     * password hash is still `passwordHash` (the row is share-locked for the statement): a password
     * change committed meanwhile makes it open nothing (undefined); one that commits later finds —
     * and revokes — the new session. Signup, email verification, a passkey login
     * and the second factor's step open sessions through it; a password login writes through
     * `openPasswordLogin`.
     */
    async openWithRefreshToken(
      s: { userId: string; passwordHash: string; ip: string; userAgent: string | null; expiresAt: Date; refreshHash: Buffer; authTime: Date; amr: readonly string[] },
      trx: Knex = knex,
    ): Promise<string | undefined> {
      const r = await trx.raw(
        `with u as (
           select id from users where id = ? and password_hash = ? for share
         ), s as (
           insert into sessions (user_id, ip, user_agent, expires_at, auth_time, amr) select id, ?, ?, ?, ?, ?::text[] from u returning id
         ), t as (
           insert into refresh_tokens (session_id, token_hash, expires_at) select id, ?, ? from s
         )
         select id from s`,
        [s.userId, s.passwordHash, s.ip, s.userAgent, s.expiresAt, s.authTime, [...s.amr], s.refreshHash, s.expiresAt],
      );
      return (r.rows[0] as { id: string } | undefined)?.id;
    },
    /**
     * Everything a password login writes once the password is verified, in one round trip
     * (migrations/20261206002400_open_password_login.ts): unless the account has a second factor or its
     * password hash is no longer `passwordHash`, a session with its first refresh token, the sessions
     * beyond `maxSessions` evicted (their ids returned), and, given `deviceHash`, a new device token with
     * the devices beyond `maxDevices` forgotten. Concurrent logins of one user take turns on its row, so
     * the caps hold.
     */
    async openPasswordLogin(s: {
      userId: string;
      passwordHash: string;
      ip: string;
      userAgent: string | null;
      expiresAt: Date;
      refreshHash: Buffer;
      authTime: Date;
      amr: readonly string[];
      now: Date;
      maxSessions: number;
      deviceHash: Buffer | null;
      maxDevices: number;
    }): Promise<PasswordLoginWrite> {
      const r = await knex.raw('select outcome, opened_session, evicted_sessions from open_password_login(?, ?, ?, ?, ?, ?, ?::text[], ?, ?, ?, ?, ?)', [
        s.userId,
        s.passwordHash,
        s.ip,
        s.userAgent,
        s.expiresAt,
        s.authTime,
        [...s.amr],
        s.refreshHash,
        s.now,
        s.maxSessions,
        s.deviceHash,
        s.maxDevices,
      ]);
      const row = r.rows[0] as { outcome: string; opened_session: string | null; evicted_sessions: string[] | null };
      if (row.outcome === 'opened') return { outcome: 'opened', sessionId: row.opened_session as string, evicted: row.evicted_sessions ?? [] };
      if (row.outcome === 'second_factor' || row.outcome === 'password_changed') return { outcome: row.outcome };
      throw new Error(`open_password_login answered an unknown outcome: ${row.outcome}`);
    },
    async insertRefreshToken(
      trx: Knex,
      t: { sessionId: string; hash: Buffer; parentId: string | null; expiresAt: Date },
    ): Promise<void> {
      await trx('refresh_tokens').insert({
        session_id: t.sessionId,
        token_hash: t.hash,
        parent_id: t.parentId,
        expires_at: t.expiresAt,
      });
    },
    /** Locks the token row: concurrent refreshes of one token are serialised here. */
    async findRefreshTokenForUpdate(trx: Knex, hash: Buffer): Promise<RefreshTokenRow | undefined> {
      const r = await trx.raw(
        `select rt.id, rt.session_id, rt.parent_id, rt.expires_at, rt.rotated_at,
                s.user_id, s.revoked_at as session_revoked_at, s.expires_at as session_expires_at, s.auth_time, s.amr, s.created_at as session_created_at
           from refresh_tokens rt join sessions s on s.id = rt.session_id
          where rt.token_hash = ?
          for update of rt`,
        [hash],
      );
      return r.rows[0] as RefreshTokenRow | undefined;
    },
    async childExists(trx: Knex, parentId: string, hash: Buffer): Promise<boolean> {
      const row = await trx('refresh_tokens').select('id').where({ parent_id: parentId, token_hash: hash }).first();
      return row !== undefined;
    },
    async markRotated(trx: Knex, id: string, at: Date): Promise<void> {
      await trx('refresh_tokens').where({ id }).update({ rotated_at: at });
    },
    async touch(trx: Knex, sessionId: string, at: Date, expiresAt: Date): Promise<void> {
      await trx('sessions').where({ id: sessionId }).update({ last_used_at: at, expires_at: expiresAt });
    },
    /** Session id and owner of a refresh token, without locking (logout). */
    async findSessionByRefreshHash(hash: Buffer): Promise<{ session_id: string; user_id: string } | undefined> {
      const r = await knex.raw(
        `select rt.session_id, s.user_id from refresh_tokens rt join sessions s on s.id = rt.session_id
          where rt.token_hash = ? and s.revoked_at is null`,
        [hash],
      );
      return r.rows[0];
    },
    /** Revokes one session; false when it was not active (or not this user's). */
    async revoke(sessionId: string, reason: string, userId?: string, trx: Knex = knex): Promise<boolean> {
      const q = trx('sessions').where({ id: sessionId }).whereNull('revoked_at');
      if (userId) q.andWhere({ user_id: userId });
      const n = await q.update({ revoked_at: trx.fn.now(), revoked_reason: reason });
      return n === 1;
    },
    /** Revokes every active session of a user except `keep`; returns the ids revoked. */
    async revokeAllForUser(userId: string, reason: string, keep?: string, trx: Knex = knex): Promise<string[]> {
      const q = trx('sessions').where({ user_id: userId }).whereNull('revoked_at');
      if (keep) q.andWhereNot({ id: keep });
      const rows = await q.update({ revoked_at: trx.fn.now(), revoked_reason: reason }).returning('id');
      return rows.map((r: { id: string }) => r.id);
    },
    async listActive(userId: string, now: Date): Promise<SessionRow[]> {
      return knex<SessionRow>('sessions')
        .where({ user_id: userId })
        .whereNull('revoked_at')
        .andWhere('expires_at', '>', now)
        .orderBy('created_at', 'desc')
        .limit(100);
    },
    /**
     * The user proved a factor again in this session (reauthentication, password change): its auth_time
     * moves to `at`, and the refresh tokens it holds are deleted, so only the pair issued now continues
     * the session — a refresh token taken before (by a thief, or an old tab) is simply unknown, 401,
     * without revoking the session the way a reused one would.
     */
    /** Returns the session's login time (its absolute lifetime counts from it); undefined when it is not active. */
    async reauthenticate(trx: Knex, sessionId: string, userId: string, at: Date, amr: readonly string[]): Promise<Date | undefined> {
      // Lock order as a refresh takes them — the refresh-token rows, then the session row — so a
      // refresh racing this waits instead of deadlocking. Only the unrotated tokens go: they are the
      // leaves of the chain (a rotated token has a successor).
      // The rows are locked first and deleted by a second statement: a refresh that committed a
      // successor while we waited for its lock is seen by the delete (a new snapshot), and no refresh
      // can add one after (it must lock its parent, which we hold).
      await trx('refresh_tokens').select('id').where({ session_id: sessionId }).forUpdate();
      await trx('refresh_tokens').where({ session_id: sessionId }).whereNull('rotated_at').delete();
      const rows = (await trx('sessions')
        .where({ id: sessionId, user_id: userId })
        .whereNull('revoked_at')
        .update({ auth_time: at, amr: trx.raw('?::text[]', [[...amr]]), last_used_at: at })
        .returning('created_at')) as { created_at: Date }[];
      return rows[0] ? new Date(rows[0].created_at) : undefined;
    },
    /**
     * Revokes the user's active sessions beyond the `keep` most recently used (reason `evicted`); returns
     * their ids. Run after a login opened one, so the new session is among those kept.
     */
    async evictBeyond(userId: string, keep: number, now: Date, trx: Knex = knex): Promise<string[]> {
      const r = await trx.raw(
        `update sessions set revoked_at = ?, revoked_reason = 'evicted'
          where id in (
            select id from sessions where user_id = ? and revoked_at is null and expires_at > ?
            order by last_used_at desc, created_at desc, id desc offset ?
          )
          returning id`,
        [now, userId, now, keep],
      );
      return (r.rows as { id: string }[]).map((row) => row.id);
    },
    /** Every session the user has or had (the account export), newest first. */
    async listAll(userId: string, trx: Knex = knex): Promise<(SessionRow & { revoked_reason: string | null; auth_time: Date; amr: string[] })[]> {
      return trx('sessions')
        .select('id', 'created_at', 'last_used_at', 'expires_at', 'revoked_at', 'revoked_reason', 'ip', 'user_agent', 'auth_time', 'amr')
        .where({ user_id: userId })
        .orderBy('created_at', 'desc');
    },
    /** What the access-token guard needs: is this session still usable, and whose is it. */
    async state(sessionId: string): Promise<{ user_id: string; revoked_at: Date | null; expires_at: Date } | undefined> {
      return knex('sessions').select('user_id', 'revoked_at', 'expires_at').where({ id: sessionId }).first();
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
