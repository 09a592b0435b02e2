import { AppError } from '../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta, SessionView, TokenResponse } from './auth-types.js';
import { UUID } from '../../platform/text.js';
import { invalidRefreshToken } from './auth-errors.js';
import type { FlowOutcomes } from './flow-outcomes.js';
import type { SessionOpening } from './session-opening.js';
import { deriveSuccessorToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-tokens.js';
import { toPublicUser } from './users-repo.js';

/** Session flows: refresh-token rotation, logout, listing and revoking sessions. */
export function createSessionFlows(deps: AuthServiceDeps, outcomes: FlowOutcomes, opening: SessionOpening) {
  const { knex, users, sessions, guard, clock } = deps;
  const { fail, succeed, auditEvent } = outcomes;
  const { refreshExpiry, tokenResponse } = opening;
  return {
    /**
     * Rotation, race-free: the token row is locked (`for update`), so concurrent refreshes of one
     * token run one after another. The first rotates; the others — and any retry within the grace
     * window — re-derive the same successor. After the window, presenting it again is reuse: the
     * whole session is revoked.
     */
    async refresh(input: { refresh_token: unknown }, meta: RequestMeta): Promise<TokenResponse> {
      const token = input.refresh_token;
      if (!looksLikeRefreshToken(token)) {
        fail('refresh', 'invalid_refresh_token');
        await auditEvent(meta, { type: 'refresh_failed', details: { reason: 'malformed' } });
        throw invalidRefreshToken();
      }
      const now = clock.now();
      const outcome = await knex.transaction(async (trx) => {
        const row = await sessions.findRefreshTokenForUpdate(trx, hashRefreshToken(token));
        if (!row) return { kind: 'invalid' as const };
        const absoluteEnd = new Date(row.session_created_at).getTime() + deps.sessionMaxAgeSeconds * 1000;
        if (row.session_revoked_at || new Date(row.session_expires_at) <= now || new Date(row.expires_at) <= now || absoluteEnd <= now.getTime()) {
          return { kind: 'invalid' as const };
        }
        const ring = deps.keyring();
        const successor = deriveSuccessorToken(token, ring.derivationKey);
        if (row.rotated_at === null) {
          const expiresAt = refreshExpiry(new Date(row.session_created_at));
          await sessions.insertRefreshToken(trx, {
            sessionId: row.session_id,
            hash: hashRefreshToken(successor),
            parentId: row.id,
            expiresAt,
          });
          await sessions.markRotated(trx, row.id, now);
          await sessions.touch(trx, row.session_id, now, expiresAt);
          return { kind: 'rotated' as const, row, successor };
        }
        const sinceRotation = now.getTime() - new Date(row.rotated_at).getTime();
        if (sinceRotation <= deps.refreshReuseGraceSeconds * 1000) {
          // A retry after a lost response gets the successor stored at rotation. A signing-key
          // rotation in between derived it with a key that is now verify-only: try each key the
          // keyring still holds; if none derives the stored child, refuse rather than fork the session.
          for (const key of ring.derivationKeys) {
            const candidate = deriveSuccessorToken(token, key);
            if (await sessions.childExists(trx, row.id, hashRefreshToken(candidate))) {
              return { kind: 'retried' as const, row, successor: candidate };
            }
          }
          return { kind: 'invalid' as const };
        }
        await sessions.revoke(row.session_id, 'refresh_token_reused', undefined, trx);
        return { kind: 'reused' as const, row };
      });

      if (outcome.kind === 'invalid') {
        fail('refresh', 'invalid_refresh_token');
        await auditEvent(meta, { type: 'refresh_failed', details: { reason: 'invalid_refresh_token' } });
        throw invalidRefreshToken();
      }
      if (outcome.kind === 'reused') {
        guard.markRevoked(outcome.row.session_id);
        fail('refresh', 'refresh_token_reused');
        await auditEvent(meta, {
          type: 'refresh_token_reused',
          userId: outcome.row.user_id,
          details: { session_id: outcome.row.session_id },
        });
        throw new AppError('refresh_token_reused', {
          detail: 'This refresh token was already used; the session has been revoked. Log in again.',
        });
      }
      const user = await users.findById(outcome.row.user_id);
      // Disabling an account revokes its sessions; this refuses a refresh that raced the disabling.
      if (!user || user.disabled_at !== null) throw invalidRefreshToken();
      succeed('refresh');
      await auditEvent(meta, {
        type: 'token_refreshed',
        userId: user.id,
        details: { session_id: outcome.row.session_id, retry: outcome.kind === 'retried' },
      });
      return tokenResponse(toPublicUser(user), outcome.row.session_id, outcome.successor, {
        authTime: new Date(outcome.row.auth_time),
        amr: outcome.row.amr,
      });
    },

    /** Revokes the session the refresh token belongs to. Unknown tokens are fine (idempotent 204). */
    async logout(input: { refresh_token: unknown }, meta: RequestMeta): Promise<void> {
      if (!looksLikeRefreshToken(input.refresh_token)) return;
      const found = await sessions.findSessionByRefreshHash(hashRefreshToken(input.refresh_token));
      if (!found) return;
      if (await sessions.revoke(found.session_id, 'logout')) {
        guard.markRevoked(found.session_id);
        await auditEvent(meta, { type: 'logout', userId: found.user_id, details: { session_id: found.session_id } });
      }
    },

    async logoutAll(auth: AuthContext, meta: RequestMeta): Promise<void> {
      const revoked = await sessions.revokeAllForUser(auth.userId, 'logout_all');
      for (const id of revoked) guard.markRevoked(id);
      await auditEvent(meta, { type: 'logout_all', userId: auth.userId, details: { sessions_revoked: revoked.length } });
    },

    async listSessions(auth: AuthContext): Promise<SessionView[]> {
      const rows = await sessions.listActive(auth.userId, clock.now());
      return rows.map((s) => ({
        id: s.id,
        created_at: new Date(s.created_at).toISOString(),
        last_used_at: new Date(s.last_used_at).toISOString(),
        ip: s.ip,
        user_agent: s.user_agent,
        current: s.id === auth.sessionId,
      }));
    },

    async revokeSession(auth: AuthContext, sessionId: string, meta: RequestMeta): Promise<void> {
      // Another user's session answers exactly like a missing one.
      if (!UUID.test(sessionId) || !(await sessions.revoke(sessionId, 'revoked_by_user', auth.userId))) {
        const owner = UUID.test(sessionId) ? (await sessions.state(sessionId))?.user_id : undefined;
        if (owner !== undefined && owner !== auth.userId) {
          await auditEvent(meta, { type: 'foreign_resource_refused', userId: auth.userId, details: { resource: 'session', reason: 'another_users', id: sessionId } });
        }
        throw new AppError('not_found', { detail: 'No such session.' });
      }
      guard.markRevoked(sessionId);
      await auditEvent(meta, { type: 'session_revoked', userId: auth.userId, details: { session_id: sessionId } });
    },
  };
}
