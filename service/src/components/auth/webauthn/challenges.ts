import { createHash } from 'node:crypto';
import type { OneTimeStore } from '../../../platform/one-time-store.js';

/** docs/api.md: challenges are single use, bound to their flow (and user), and expire in 5 minutes. */
export const CHALLENGE_TTL_SECONDS = 300;

/** The flows a challenge can be spent in; one flow's challenge is never accepted by another. */
export type ChallengeFlow = 'register' | 'login' | 'mfa' | 'reauth';

/** What a login challenge remembers: the account its options were asked for (null: discoverable, or an unknown address). */
export interface LoginChallengeContext {
  userId: string | null;
}

/**
 * The challenge a response claims to answer, from its clientDataJSON (base64url JSON); undefined
 * when that is not readable. Only a lookup key: the library checks it against the stored one.
 */
export function claimedChallenge(clientDataJSON: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' && parsed.challenge.length > 0 && parsed.challenge.length <= 512 ? parsed.challenge : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Issued challenges in the one-time store, under `webauthn:<flow>:<user>:<sha256(challenge)>`: a
 * response is accepted only with a challenge issued for the same flow and user, and only once (the
 * store's take is atomic across replicas).
 */
export function createChallenges(oneTime: OneTimeStore) {
  const keyOf = (flow: ChallengeFlow, userId: string | null, challenge: string) =>
    `webauthn:${flow}:${userId ?? '-'}:${createHash('sha256').update(challenge, 'utf8').digest('base64url')}`;
  return {
    async issue(flow: ChallengeFlow, userId: string | null, challenge: string, context: object = {}): Promise<void> {
      await oneTime.put(keyOf(flow, userId, challenge), JSON.stringify(context), CHALLENGE_TTL_SECONDS);
    },
    /** The context the challenge was issued with, removed in the same step; undefined when never issued, taken or expired. */
    async take<T extends object>(flow: ChallengeFlow, userId: string | null, challenge: string): Promise<T | undefined> {
      const value = await oneTime.take(keyOf(flow, userId, challenge));
      return value === undefined ? undefined : (JSON.parse(value) as T);
    },
  };
}

export type Challenges = ReturnType<typeof createChallenges>;
