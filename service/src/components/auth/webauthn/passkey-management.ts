import {
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { AppError } from '../../../platform/errors.js';
import type { AuthContext, AuthServiceDeps, RequestMeta } from '../auth-types.js';
import type { FlowOutcomes } from '../flow-outcomes.js';
import { classifyFailure } from './assertion.js';
import { CHALLENGE_TTL_SECONDS, type Challenges, claimedChallenge } from './challenges.js';
import type { PasskeyRow } from './credentials-repo.js';
import { passkeyAddedMail, passkeyRemovedMail } from './passkey-mails.js';

/** Passkeys one account may hold (docs/api.md, "Passkeys"): enough for every device and a spare key or two. */
export const MAX_PASSKEYS_PER_USER = 20;

/** The transports WebAuthn Level 3 names; anything else a client reports is not stored. */
const KNOWN_TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/** A passkey as its owner sees it (never the key or the authenticator's credential id). */
export interface PasskeyView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

export function toPasskeyView(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: row.last_used_at ? new Date(row.last_used_at).toISOString() : null,
  };
}

/** The WebAuthn user handle: the 16 bytes of the account's UUID (no personal data in it). */
export function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
}

function invalidResponse(): AppError {
  return new AppError('invalid_webauthn_response', {
    detail: 'The passkey could not be registered. Ask for new options and try again.',
  });
}

function notFound(): AppError {
  return new AppError('not_found', { detail: 'No such passkey.' });
}

/** Adding, listing, renaming and removing the signed-in user's passkeys. */
export function createPasskeyManagement(
  deps: Pick<AuthServiceDeps, 'knex' | 'users' | 'passkeys' | 'webauthn' | 'clock' | 'mail' | 'accounts'>,
  outcomes: FlowOutcomes,
  challenges: Challenges,
) {
  const { knex, users, passkeys, webauthn, clock, mail, accounts } = deps;
  const { fail, succeed, auditEvent } = outcomes;

  async function signedInUser(auth: AuthContext) {
    const user = await users.findById(auth.userId);
    if (!user) throw new AppError('invalid_token', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    return user;
  }

  function limitReached(): AppError {
    return new AppError('passkey_limit_reached', {
      detail: `An account holds at most ${MAX_PASSKEYS_PER_USER} passkeys: remove one first.`,
    });
  }

  return {
    /** Creation options for the signed-in user: a discoverable credential with user verification, no attestation. */
    async passkeyRegistrationOptions(auth: AuthContext): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const user = await signedInUser(auth);
      const existing = await passkeys.listForUser(user.id);
      if (existing.length >= MAX_PASSKEYS_PER_USER) throw limitReached();
      const options = await generateRegistrationOptions({
        rpName: webauthn.rpName,
        rpID: webauthn.rpId,
        userName: user.email,
        userDisplayName: user.email,
        userID: userHandle(user.id),
        attestationType: 'none',
        timeout: CHALLENGE_TTL_SECONDS * 1000,
        excludeCredentials: existing.map((c) => ({ id: c.credential_id, transports: c.transports })),
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      });
      await challenges.issue('register', user.id, options.challenge);
      return options;
    },

    /** Verifies a registration answering a challenge issued to this user (taken once) and stores the passkey. */
    async registerPasskey(
      auth: AuthContext,
      input: { response: RegistrationResponseJSON; name: string },
      meta: RequestMeta,
    ): Promise<PasskeyView> {
      const refuse = (reason: string) => {
        fail('passkey_register', reason);
        return invalidResponse();
      };
      const challenge = claimedChallenge(input.response.response.clientDataJSON);
      if (challenge === undefined) throw refuse('malformed_response');
      if (!(await challenges.take('register', auth.userId, challenge))) throw refuse('unknown_challenge');
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({
          response: input.response,
          expectedChallenge: challenge,
          expectedOrigin: [...webauthn.origins],
          expectedRPID: webauthn.rpId,
          requireUserVerification: true,
        });
      } catch (err) {
        throw refuse(classifyFailure(err));
      }
      if (!verified.verified) throw refuse('not_verified');
      const info = verified.registrationInfo;
      const user = await signedInUser(auth);
      const origin = { requestId: meta.requestId, userId: user.id };
      // The notice is written in the same transaction as the passkey: no passkey without its mail.
      const stored = await knex.transaction(async (trx) => {
        const row = await passkeys.insert(
          {
            userId: auth.userId,
            credentialId: info.credential.id,
            publicKey: info.credential.publicKey,
            signCount: info.credential.counter,
            transports: (input.response.response.transports ?? []).filter((t) => KNOWN_TRANSPORTS.has(t)),
            deviceType: info.credentialDeviceType,
            backedUp: info.credentialBackedUp,
            aaguid: info.aaguid,
            name: input.name,
            createdAt: clock.now(),
          },
          MAX_PASSKEYS_PER_USER,
          trx,
        );
        if (typeof row !== 'string') await mail.enqueue(trx, passkeyAddedMail(user.email, row.name, accounts.appUrl), origin);
        return row;
      });
      if (typeof stored !== 'string') mail.wake();
      if (stored === 'duplicate') throw refuse('duplicate_credential');
      if (stored === 'limit') {
        fail('passkey_register', 'limit_reached');
        throw limitReached();
      }
      succeed('passkey_register');
      await auditEvent(meta, {
        type: 'passkey_added',
        userId: auth.userId,
        details: {
          credential_id: stored.id,
          device_type: stored.device_type,
          backed_up: stored.backed_up,
          aaguid: stored.aaguid,
        },
      });
      return toPasskeyView(stored);
    },

    /** Whether the account holds a passkey (GET /v1/me's `mfa.webauthn`, the MFA step's `methods`). */
    async hasPasskeys(userId: string): Promise<boolean> {
      return (await passkeys.listForUser(userId)).length > 0;
    },

    /** One page always: an account holds at most MAX_PASSKEYS_PER_USER. */
    async listPasskeys(auth: AuthContext): Promise<{ items: PasskeyView[]; next_cursor: null }> {
      return { items: (await passkeys.listForUser(auth.userId)).map(toPasskeyView), next_cursor: null };
    },

    async renamePasskey(auth: AuthContext, id: string, name: string, meta: RequestMeta): Promise<PasskeyView> {
      const renamed = await passkeys.rename(auth.userId, id, name);
      if (!renamed) throw await refusedForeign(auth, id, meta);
      await auditEvent(meta, { type: 'passkey_renamed', userId: auth.userId, details: { credential_id: renamed.id } });
      return toPasskeyView(renamed);
    },

    async deletePasskey(auth: AuthContext, id: string, meta: RequestMeta): Promise<void> {
      const user = await signedInUser(auth);
      const removed = await knex.transaction(async (trx) => {
        const row = await passkeys.remove(user.id, id, trx);
        if (row)
          await mail.enqueue(trx, passkeyRemovedMail(user.email, row.name, accounts.appUrl), {
            requestId: meta.requestId,
            userId: user.id,
          });
        return row;
      });
      if (!removed) throw await refusedForeign(auth, id, meta);
      mail.wake();
      await auditEvent(meta, { type: 'passkey_removed', userId: auth.userId, details: { credential_id: removed.id } });
    },
  };

  /** Another user's passkey answers as a missing one; the attempt is audited. */
  async function refusedForeign(auth: AuthContext, id: string, meta: RequestMeta): Promise<AppError> {
    const owner = await passkeys.ownerOf(id);
    if (owner !== undefined && owner !== auth.userId) {
      await auditEvent(meta, {
        type: 'foreign_resource_refused',
        userId: auth.userId,
        details: { resource: 'passkey', reason: 'another_users', id },
      });
    }
    return notFound();
  }
}
