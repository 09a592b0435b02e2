import { randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import { keysDocumentSchema } from './keys-schema.js';
import { generateEd25519Jwk, kidForSecret, type JwtAlgorithm } from './keyring.js';

/**
 * The JWT_KEYS document and the three phases of a signing-key rotation, as pure functions over it
 * (the store, the waits and the output belong to `secops keys`).
 *
 *   stage    add a new key, verify-only: every replica learns it before anything is signed with it
 *   promote  make the staged key the signing key; the previous one stays, verify-only, `retired_at` now
 *   prune    remove retired keys once no token they signed can still be valid
 *
 * Each key carries its own timestamps (`created_at`, `retired_at`, JWK extension members the
 * keyring ignores), so every phase can tell from the document alone whether it is safe, and running a
 * phase twice changes nothing the second time.
 */

export interface KeyEntry extends JWK {
  kid: string;
  /** ISO-8601; when the key was staged. */
  created_at?: string;
  /** ISO-8601; when it stopped being the signing key. */
  retired_at?: string;
}

export interface KeysDocument {
  signing: string;
  keys: KeyEntry[];
}

export type KeyRole = 'signing' | 'staged' | 'retired';

export class KeyRotationError extends Error {
  override name = 'KeyRotationError';
  readonly code: 'invalid_document' | 'not_ready' | 'nothing_staged' | 'unknown_kid';
  /** For `not_ready`: how long until the phase becomes safe (ms). */
  readonly waitMs: number | undefined;
  constructor(code: KeyRotationError['code'], message: string, waitMs?: number) {
    super(message);
    this.code = code;
    this.waitMs = waitMs;
  }
}

export function parseKeysDocument(json: string): KeysDocument {
  let doc: KeysDocument;
  try {
    doc = keysDocumentSchema.parse(JSON.parse(json)) as KeysDocument;
  } catch {
    // Never quote the document: it holds private keys.
    throw new KeyRotationError('invalid_document', 'the stored value is not a JWT keyring document ({"signing": kid, "keys": [JWK…]})');
  }
  if (!doc.keys.some((k) => k.kid === doc.signing))
    throw new KeyRotationError('invalid_document', `the signing key "${doc.signing}" is not in the keyring document`);
  return doc;
}

export function serializeKeysDocument(doc: KeysDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function algorithmOf(key: KeyEntry): JwtAlgorithm {
  return key.kty === 'oct' ? 'HS256' : 'EdDSA';
}

export function roleOf(doc: KeysDocument, key: KeyEntry): KeyRole {
  if (key.kid === doc.signing) return 'signing';
  return key.retired_at ? 'retired' : 'staged';
}

/** A new private key with a kid that names its algorithm and day, and a random suffix. */
export async function newKey(alg: JwtAlgorithm, now: Date): Promise<KeyEntry> {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  const kid = `${alg === 'EdDSA' ? 'ed' : 'hs'}-${day}-${randomBytes(4).toString('hex')}`;
  const created_at = now.toISOString();
  if (alg === 'EdDSA') return { ...(await generateEd25519Jwk(kid)), kid, alg: 'EdDSA', created_at };
  return { kty: 'oct', kid, alg: 'HS256', k: randomBytes(64).toString('base64url'), created_at };
}

/** A document with one signing key: a fresh one, or an existing JWT_SECRET (same kid, so its tokens stay valid). */
export async function initialDocument(options: { alg: JwtAlgorithm; now: Date; importSecret?: Uint8Array }): Promise<KeysDocument> {
  const key: KeyEntry = options.importSecret
    ? {
        kty: 'oct',
        kid: kidForSecret(options.importSecret),
        alg: 'HS256',
        k: Buffer.from(options.importSecret).toString('base64url'),
        created_at: options.now.toISOString(),
      }
    : await newKey(options.alg, options.now);
  return { signing: key.kid, keys: [key] };
}

export interface RotationTimings {
  /** How often every replica re-reads the keyring (JWT_KEYS_RELOAD_INTERVAL_SECONDS). */
  readonly reloadIntervalMs: number;
  /** Longest lifetime of a token signed by a key (ACCESS_TOKEN_TTL_SECONDS). */
  readonly tokenLifetimeMs: number;
  /** Clock skew the verifiers accept past a token's `exp` (30 s, see access-tokens.ts). */
  readonly clockToleranceMs: number;
  /** Margin for a slow read of the store and clocks that differ between the CLI and the replicas. */
  readonly marginMs: number;
}

/** The verifiers' clock tolerance and the default margin. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 30_000;
export const DEFAULT_MARGIN_MS = 5_000;

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** The newest staged key (the one `promote` would pick), if any. */
export function stagedKey(doc: KeysDocument): KeyEntry | undefined {
  const staged = doc.keys.filter((k) => roleOf(doc, k) === 'staged' && k.created_at);
  staged.sort((a, b) => time(b.created_at) - time(a.created_at));
  return staged[0];
}

export interface StageResult {
  readonly document: KeysDocument;
  readonly kid: string;
  readonly changed: boolean;
}

/** Adds a verify-only key; when one is already staged (a re-run), returns it unchanged. */
export async function stage(doc: KeysDocument, options: { alg: JwtAlgorithm; now: Date }): Promise<StageResult> {
  const existing = stagedKey(doc);
  if (existing && algorithmOf(existing) === options.alg) return { document: doc, kid: existing.kid, changed: false };
  const key = await newKey(options.alg, options.now);
  return { document: { signing: doc.signing, keys: [...doc.keys, key] }, kid: key.kid, changed: true };
}

/** When the staged key becomes safe to sign with: every replica has re-read the keyring at least once since it was staged. */
export function promotableAt(key: KeyEntry, timings: RotationTimings): number {
  return time(key.created_at) + timings.reloadIntervalMs + timings.marginMs;
}

export interface PromoteResult {
  readonly document: KeysDocument;
  readonly kid: string;
  readonly previous: string;
  readonly changed: boolean;
}

/**
 * Makes the staged key (or `kid`) the signing key. Refuses (`not_ready`, with the wait) while a
 * replica might not have loaded it yet, unless `replicasConfirmed` (the caller checked every replica).
 */
export function promote(
  doc: KeysDocument,
  options: { now: Date; timings: RotationTimings; kid?: string; replicasConfirmed?: boolean },
): PromoteResult {
  const key = options.kid ? doc.keys.find((k) => k.kid === options.kid) : stagedKey(doc);
  if (options.kid && !key) throw new KeyRotationError('unknown_kid', `no key "${options.kid}" in the keyring document`);
  if (!key) {
    // A re-run after a successful promote: the newest key already signs.
    // Newest by created_at; on a tie the later in the document (stage appends).
    const newest = doc.keys.reduce<KeyEntry | undefined>(
      (best, k) => (k.created_at && (!best || time(k.created_at) >= time(best.created_at)) ? k : best),
      undefined,
    );
    if (newest?.kid === doc.signing) return { document: doc, kid: doc.signing, previous: doc.signing, changed: false };
    throw new KeyRotationError('nothing_staged', 'no staged key to promote: run `secops keys rotate stage` first');
  }
  if (key.kid === doc.signing) return { document: doc, kid: key.kid, previous: doc.signing, changed: false };
  if (!key.d && key.kty === 'OKP') throw new KeyRotationError('invalid_document', `the key "${key.kid}" has no private part`);
  // Without a reload interval (SIGHUP only) or a staging time, only the replicas themselves can tell.
  const readyAt =
    key.created_at && options.timings.reloadIntervalMs > 0 ? promotableAt(key, options.timings) : Number.POSITIVE_INFINITY;
  const now = options.now.getTime();
  if (!options.replicasConfirmed && now < readyAt) {
    const wait = Number.isFinite(readyAt) ? readyAt - now : undefined;
    throw new KeyRotationError(
      'not_ready',
      Number.isFinite(readyAt)
        ? `the staged key "${key.kid}" may not be loaded by every replica yet; safe in ${Math.ceil((readyAt - now) / 1000)} s`
        : `cannot tell from the document whether every replica has loaded "${key.kid}" (no reload interval, or no created_at): confirm with --replica`,
      wait,
    );
  }
  const at = options.now.toISOString();
  const keys = doc.keys.map((k) => {
    if (k.kid === doc.signing) return { ...k, retired_at: at };
    if (k.kid === key.kid) {
      const { retired_at: _dropped, ...rest } = k;
      return rest as KeyEntry;
    }
    return k;
  });
  return { document: { signing: key.kid, keys }, kid: key.kid, previous: doc.signing, changed: true };
}

/**
 * When a retired key can go: no replica signs with it any more (one reload interval after it was
 * retired) and every token it signed has expired (plus the accepted clock skew).
 */
export function prunableAt(key: KeyEntry, timings: RotationTimings): number {
  return time(key.retired_at) + timings.reloadIntervalMs + timings.tokenLifetimeMs + timings.clockToleranceMs + timings.marginMs;
}

export interface PruneResult {
  readonly document: KeysDocument;
  readonly removed: string[];
  /** Retired keys still needed, with when they may go. */
  readonly kept: { kid: string; prunableAt: string }[];
}

export function prune(doc: KeysDocument, options: { now: Date; timings: RotationTimings }): PruneResult {
  const removed: string[] = [];
  const kept: PruneResult['kept'] = [];
  const keys = doc.keys.filter((k) => {
    if (roleOf(doc, k) !== 'retired') return true;
    const at = prunableAt(k, options.timings);
    if (Number.isFinite(at) && at <= options.now.getTime()) {
      removed.push(k.kid);
      return false;
    }
    kept.push({ kid: k.kid, prunableAt: Number.isFinite(at) ? new Date(at).toISOString() : 'unknown' });
    return true;
  });
  return { document: { signing: doc.signing, keys }, removed, kept };
}

export interface KeySummary {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly role: KeyRole;
  readonly created_at: string | null;
  readonly retired_at: string | null;
  /** Seconds since created_at. */
  readonly age_seconds: number | null;
  /** staged: when promote is safe; retired: when prune may remove it. */
  readonly next_phase_at: string | null;
}

export function summarize(doc: KeysDocument, now: Date, timings: RotationTimings): KeySummary[] {
  return doc.keys.map((k) => {
    const role = roleOf(doc, k);
    const next = role === 'staged' ? promotableAt(k, timings) : role === 'retired' ? prunableAt(k, timings) : Number.NaN;
    return {
      kid: k.kid,
      alg: algorithmOf(k),
      role,
      created_at: k.created_at ?? null,
      retired_at: k.retired_at ?? null,
      age_seconds: k.created_at ? Math.floor((now.getTime() - time(k.created_at)) / 1000) : null,
      next_phase_at: Number.isFinite(next) ? new Date(next).toISOString() : null,
    };
  });
}
