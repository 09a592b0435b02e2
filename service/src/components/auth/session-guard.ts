import type { Clock } from '../../platform/clock.js';
import { invalidToken } from './access-tokens.js';
import type { SessionsRepo } from './sessions-repo.js';

export interface SessionGuardOptions {
  sessions: Pick<SessionsRepo, 'state'>;
  clock: Clock;
  /** How long a "still active" answer is trusted. Bounds how late another replica sees a revocation. */
  ttlMs?: number;
  maxEntries?: number;
}

interface Entry {
  userId: string;
  active: boolean;
  expiresAt: number;
  checkedAt: number;
}

/**
 * Refuses access tokens whose session was revoked. A revocation made on this replica is seen at
 * once (`markRevoked`); one made on another replica is seen within `ttlMs` (default 1 s), because
 * an "active" answer is cached no longer than that — one indexed primary-key lookup per session
 * per second, instead of one per request, however many of the session's requests arrive together.
 */
export function createSessionGuard(options: SessionGuardOptions) {
  const ttlMs = options.ttlMs ?? 1000;
  const maxEntries = options.maxEntries ?? 50_000;
  const cache = new Map<string, Entry>();

  function remember(sessionId: string, entry: Entry) {
    if (cache.size >= maxEntries) {
      // Map iterates in insertion order: drop the oldest tenth.
      let drop = Math.ceil(maxEntries / 10);
      for (const key of cache.keys()) {
        cache.delete(key);
        if (--drop === 0) break;
      }
    }
    cache.set(sessionId, entry);
  }

  // One lookup per session at a time: the requests that find its answer missing or stale while one
  // is on its way wait for that one instead of each reading the row (a busy client's concurrent
  // requests would otherwise read it once each, every time the answer goes stale).
  const inFlight = new Map<string, Promise<Entry>>();

  function lookUp(sessionId: string, now: number): Promise<Entry> {
    let pending = inFlight.get(sessionId);
    if (!pending) {
      pending = readState(sessionId, now).finally(() => inFlight.delete(sessionId));
      inFlight.set(sessionId, pending);
    }
    return pending;
  }

  async function readState(sessionId: string, now: number): Promise<Entry> {
    const state = await options.sessions.state(sessionId);
    const entry: Entry = state
      ? { userId: state.user_id, active: state.revoked_at === null, expiresAt: new Date(state.expires_at).getTime(), checkedAt: now }
      : { userId: '', active: false, expiresAt: 0, checkedAt: now };
    const revokedMeanwhile = cache.get(sessionId);
    if (revokedMeanwhile && !revokedMeanwhile.active) {
      // markRevoked ran while the row was being read: the (older) "active" answer must not
      // overwrite it, or the revoked session would pass for up to ttlMs (found in issue 12).
      return revokedMeanwhile;
    }
    cache.delete(sessionId);
    remember(sessionId, entry);
    return entry;
  }

  return {
    async assertActive(sessionId: string, userId: string): Promise<void> {
      const now = options.clock.now().getTime();
      let entry = cache.get(sessionId);
      if (!entry || (entry.active && now - entry.checkedAt >= ttlMs)) entry = await lookUp(sessionId, now);
      if (!entry.active || entry.userId !== userId || entry.expiresAt <= now) throw invalidToken();
    },
    /** This replica revoked the session: refuse its tokens from now on. */
    markRevoked(sessionId: string): void {
      const entry = cache.get(sessionId);
      if (entry) entry.active = false;
      else remember(sessionId, { userId: '', active: false, expiresAt: 0, checkedAt: options.clock.now().getTime() });
    },
  };
}

export type SessionGuard = ReturnType<typeof createSessionGuard>;
