import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CliError, EXIT } from '../errors.js';
import { type Manifest, MANIFEST_FILE, manifestSchema, type StoredBackup } from './manifest.js';
import { signatureProblem, type SigningKeyring } from './signing.js';

/**
 * Which backups of a directory can be trusted, decided before anything else in them is read. The
 * attacker this defends against can write the backup storage but holds no signing key (issue 22):
 * every manifest's signature is checked first (signing.ts), then its id against its directory name,
 * its date against the clock, and the directory as a whole — sequences are unique, and a predecessor
 * present and verified has the digest its successor signed. A predecessor that is absent (pruned, or
 * deleted) is accepted: the storage alone cannot tell the two apart, and the drill pushes the latest
 * sequence so that a deletion of the newest backups shows as a decrease (cli/README.md, "Signed manifests").
 */

/** A clock this far ahead of ours is skew; further is a backup "from the future", refused everywhere. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export type RefusalCode =
  | 'unreadable'
  | 'unsigned'
  | 'unknown_kid'
  | 'bad_signature'
  | 'no_signing_key'
  | 'invalid'
  | 'id_mismatch'
  | 'future'
  | 'duplicate_sequence'
  | 'chain_broken';

export interface VerifyOptions {
  /** Undefined only with allowUnsigned: format-2 manifests are then refused (cannot be checked). */
  keyring: SigningKeyring | undefined;
  /** Accept format-1 (pre-signing) manifests, flagged `unsigned`; never a format-2 one without a good signature. */
  allowUnsigned: boolean;
  now: Date;
}

export type CatalogEntry =
  | (StoredBackup & {
      status: 'verified' | 'unsigned';
      digest: string;
      chain: 'first' | 'linked' | 'predecessor_absent' | 'none';
    })
  | { dir: string; status: 'refused'; code: RefusalCode; reason: string };

export type TrustedBackup = Extract<CatalogEntry, { status: 'verified' | 'unsigned' }>;

export class BackupRefusedError extends CliError {
  constructor(message: string, refusal: RefusalCode | 'file_missing' | 'file_unexpected' | 'file_mismatch') {
    super(message, { exitCode: EXIT.unverified, code: `backup_${refusal}` });
  }
}

const refuse = (dir: string, code: RefusalCode, reason: string): CatalogEntry => ({ dir, status: 'refused', code, reason });

/** One backup directory on its own: signature, then schema, id and date. */
export function verifyManifest(dir: string, options: VerifyOptions): CatalogEntry {
  let bytes: Buffer;
  let raw: Record<string, unknown>;
  try {
    bytes = readFileSync(join(dir, MANIFEST_FILE));
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not an object');
  } catch (err) {
    return refuse(dir, 'unreadable', `${MANIFEST_FILE} cannot be read: ${(err as Error).message}`);
  }
  const legacy = raw.format === 1;
  if (legacy && !options.allowUnsigned) {
    return refuse(dir, 'unsigned', 'unsigned format-1 manifest (taken before signing): pass --allow-unsigned to accept it');
  }
  if (!legacy) {
    if (!options.keyring) return refuse(dir, 'no_signing_key', 'signed manifest but no BACKUP_SIGNING_KEY to verify it with');
    const problem = signatureProblem(raw, options.keyring);
    if (problem === 'unsigned') return refuse(dir, 'unsigned', 'the manifest carries no signature');
    if (problem === 'unknown_kid')
      return refuse(
        dir,
        'unknown_kid',
        `signed by key ${String((raw.signature as { kid?: unknown }).kid)}, which is not in BACKUP_SIGNING_KEY`,
      );
    if (problem === 'bad_signature')
      return refuse(dir, 'bad_signature', 'the signature does not match the manifest (altered, or signed by another key)');
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) return refuse(dir, 'invalid', `not a valid manifest: ${parsed.error.issues[0]?.message}`);
  const manifest = parsed.data;
  if (!legacy) {
    const incomplete =
      manifest.sequence === undefined ||
      manifest.predecessor === undefined ||
      !manifest.sourceIdentity ||
      manifest.files.some((f) => !f.sha256);
    if (incomplete)
      return refuse(dir, 'invalid', 'a format-2 manifest without sequence, predecessor, source identity or file hashes');
  }
  if (manifest.id !== basename(dir))
    return refuse(
      dir,
      'id_mismatch',
      `the directory is named ${basename(dir)} but holds backup ${manifest.id} (a copied or renamed backup)`,
    );
  if (Date.parse(manifest.createdAt) > options.now.getTime() + CLOCK_SKEW_MS) {
    return refuse(
      dir,
      'future',
      `dated ${manifest.createdAt}, in the future (more than ${CLOCK_SKEW_MS / 60_000} min ahead of this clock)`,
    );
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  return { dir, manifest, status: legacy ? 'unsigned' : 'verified', digest, chain: legacy ? 'none' : 'first' };
}

/**
 * Every directory under `root` that holds a manifest.json, trusted ones first (newest first), then the
 * refused ones. Directories without a manifest (unfinished backups, anything else) are not listed.
 */
export function catalogBackups(root: string, options: VerifyOptions): CatalogEntry[] {
  if (!existsSync(root)) return [];
  const entries = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, MANIFEST_FILE)))
    .map((e) => verifyManifest(join(root, e.name), options));
  const trusted = () => entries.filter((e): e is TrustedBackup => e.status !== 'refused');

  // Two verified manifests with one sequence: neither is trusted (a copy, or two concurrent creates).
  const bySequence = new Map<number, number>();
  for (const e of trusted())
    if (e.manifest.sequence) bySequence.set(e.manifest.sequence, (bySequence.get(e.manifest.sequence) ?? 0) + 1);
  for (const [i, e] of entries.entries()) {
    if (e.status !== 'refused' && e.manifest.sequence && (bySequence.get(e.manifest.sequence) ?? 0) > 1) {
      entries[i] = refuse(e.dir, 'duplicate_sequence', `sequence ${e.manifest.sequence} is held by another backup too`);
    }
  }
  const byId = new Map(trusted().map((e) => [e.manifest.id, e]));
  for (const [i, e] of entries.entries()) {
    if (e.status !== 'verified') continue;
    const link = e.manifest.predecessor;
    if (!link) continue;
    const predecessor = byId.get(link.id);
    if (!predecessor) {
      e.chain = 'predecessor_absent';
    } else if (predecessor.digest !== link.digest || (predecessor.manifest.sequence ?? 0) >= (e.manifest.sequence ?? 0)) {
      entries[i] = refuse(
        e.dir,
        'chain_broken',
        `its predecessor ${link.id} is not the backup it was signed after (digest or sequence differs)`,
      );
    } else {
      e.chain = 'linked';
    }
  }
  const newestFirst = (a: TrustedBackup, b: TrustedBackup) =>
    b.manifest.createdAt.localeCompare(a.manifest.createdAt) ||
    (b.manifest.sequence ?? 0) - (a.manifest.sequence ?? 0) ||
    b.manifest.id.localeCompare(a.manifest.id);
  return [
    ...trusted().sort(newestFirst),
    ...entries.filter((e) => e.status === 'refused').sort((a, b) => a.dir.localeCompare(b.dir)),
  ];
}

/** The trusted backups of a directory, newest first. */
export function trustedBackups(root: string, options: VerifyOptions): TrustedBackup[] {
  return catalogBackups(root, options).filter((e): e is TrustedBackup => e.status !== 'refused');
}

/** The backup in `dir`, verified in the context of its parent directory (duplicates, chain), or a refusal. */
export function requireTrustedBackup(dir: string, options: VerifyOptions): TrustedBackup {
  if (!existsSync(join(dir, MANIFEST_FILE)))
    throw new CliError(`${dir} holds no ${MANIFEST_FILE}: not a backup, or an unfinished one`, { code: 'backup_missing' });
  const alone = verifyManifest(dir, options);
  const entry =
    alone.status === 'refused' ? alone : (catalogBackups(join(dir, '..'), options).find((e) => e.dir === dir) ?? alone);
  if (entry.status === 'refused')
    throw new BackupRefusedError(`backup ${dir} refused (${entry.code}): ${entry.reason}`, entry.code);
  return entry;
}

/** The sequence and predecessor link of the next backup taken in `root`. */
export function nextInChain(root: string, options: VerifyOptions): { sequence: number; predecessor: Manifest['predecessor'] } {
  let last: TrustedBackup | undefined;
  for (const e of trustedBackups(root, options)) {
    if (e.status === 'verified' && (!last || (e.manifest.sequence ?? 0) > (last.manifest.sequence ?? 0))) last = e;
  }
  if (!last) return { sequence: 1, predecessor: null };
  return { sequence: (last.manifest.sequence ?? 0) + 1, predecessor: { id: last.manifest.id, digest: last.digest } };
}
