import type { Knex } from '../../../platform/db.js';

/** A passkey as stored (migrations/20261206000700_mfa.ts, webauthn_credentials). */
export interface PasskeyRow {
  id: string;
  user_id: string;
  /** The authenticator's credential id, base64url. */
  credential_id: string;
  public_key: Buffer;
  /** bigint in the table; authenticators count in 32 bits, so a number holds it exactly. */
  sign_count: number;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  aaguid: string | null;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

export interface NewPasskey {
  userId: string;
  credentialId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  aaguid: string | null;
  name: string;
  createdAt: Date;
}

const COLUMNS = [
  'id',
  'user_id',
  'credential_id',
  'public_key',
  'sign_count',
  'transports',
  'device_type',
  'backed_up',
  'aaguid',
  'name',
  'created_at',
  'last_used_at',
] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toRow(raw: Record<string, unknown>): PasskeyRow {
  return { ...(raw as unknown as PasskeyRow), sign_count: Number(raw.sign_count) };
}

/** Data access for passkeys; plain rows in and out. Ids that are not UUIDs find nothing (never a database error). */
export function createPasskeysRepo(knex: Knex) {
  return {
    async listForUser(userId: string): Promise<PasskeyRow[]> {
      if (!UUID.test(userId)) return [];
      const rows = await knex('webauthn_credentials').select(...COLUMNS).where({ user_id: userId }).orderBy('created_at', 'desc').orderBy('id');
      return rows.map(toRow);
    },

    async findByCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
      const raw = await knex('webauthn_credentials').select(...COLUMNS).where({ credential_id: credentialId }).first();
      return raw ? toRow(raw) : undefined;
    },

    /**
     * Stores a new passkey unless the user already holds `max` of them or the credential is known
     * (to anyone): 'limit' or 'duplicate' then. The user's row is locked meanwhile, so two concurrent
     * registrations cannot both pass the count. Inside `within` when given (a savepoint of it).
     */
    async insert(passkey: NewPasskey, max: number, within: Knex = knex): Promise<PasskeyRow | 'limit' | 'duplicate'> {
      return within.transaction(async (trx) => {
        await trx('users').select('id').where({ id: passkey.userId }).forUpdate();
        const [{ count }] = (await trx('webauthn_credentials').where({ user_id: passkey.userId }).count('* as count')) as [{ count: string }];
        if (Number(count) >= max) return 'limit' as const;
        const rows = await trx.raw(
          `insert into webauthn_credentials
             (user_id, credential_id, public_key, sign_count, transports, device_type, backed_up, aaguid, name, created_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict on constraint webauthn_credentials_credential_unique do nothing
           returning ${COLUMNS.join(', ')}`,
          [
            passkey.userId,
            passkey.credentialId,
            Buffer.from(passkey.publicKey),
            passkey.signCount,
            passkey.transports,
            passkey.deviceType,
            passkey.backedUp,
            passkey.aaguid,
            passkey.name,
            passkey.createdAt,
          ],
        );
        const row = rows.rows[0] as Record<string, unknown> | undefined;
        return row ? toRow(row) : ('duplicate' as const);
      });
    },

    /**
     * Records a sign-in: the new counter, backup state and time — only while the stored counter is
     * below the new one (or both are 0: authenticators that do not count). False when another sign-in
     * got there first with the same or a higher counter: a cloned authenticator, or a replay.
     */
    async recordUse(id: string, use: { signCount: number; backedUp: boolean; at: Date }): Promise<boolean> {
      const updated = await knex('webauthn_credentials')
        .where({ id })
        .whereRaw('(sign_count < ? or (sign_count = 0 and ?::bigint = 0))', [use.signCount, use.signCount])
        .update({ sign_count: use.signCount, backed_up: use.backedUp, last_used_at: use.at });
      return updated === 1;
    },

    /** Whose passkey `id` is (for auditing a refused attempt on another user's); undefined when none. */
    async ownerOf(id: string): Promise<string | undefined> {
      if (!UUID.test(id)) return undefined;
      const row = (await knex('webauthn_credentials').select('user_id').where({ id }).first()) as { user_id: string } | undefined;
      return row?.user_id;
    },

    /** The renamed passkey; undefined when `id` is not one of `userId`'s. */
    async rename(userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
      if (!UUID.test(id) || !UUID.test(userId)) return undefined;
      const rows = await knex('webauthn_credentials').where({ id, user_id: userId }).update({ name }).returning([...COLUMNS]);
      return rows[0] ? toRow(rows[0]) : undefined;
    },

    /** The removed passkey; undefined when `id` is not one of `userId`'s. */
    async remove(userId: string, id: string, trx: Knex = knex): Promise<PasskeyRow | undefined> {
      if (!UUID.test(id) || !UUID.test(userId)) return undefined;
      const rows = await trx('webauthn_credentials').where({ id, user_id: userId }).delete().returning([...COLUMNS]);
      return rows[0] ? toRow(rows[0]) : undefined;
    },
  };
}

export type PasskeysRepo = ReturnType<typeof createPasskeysRepo>;
