import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writePrivateFile } from '../private-files.js';

/**
 * `manifest.json`, written next to the dump as the last step of `backup create`: a backup directory
 * without a valid manifest is not a backup (list, prune and drill ignore it). It records what the
 * database held at the snapshot, so a restore can be proved equal to the source.
 */

export const MANIFEST_FILE = 'manifest.json';
export const DUMP_DIR = 'dump';
/** 2: signed (signing.ts), with file hashes, the source's identity, a sequence and the predecessor's digest. 1: legacy, unsigned. */
export const MANIFEST_FORMAT = 2;

const tableSchema = z.object({
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** See table-stats.ts: `checksumAlgorithm` says how it was computed. */
  checksum: z.string(),
  orderBy: z.array(z.string()),
  bytes: z.number().int().nonnegative(),
});

const fileSchema = z.object({
  /** Path inside the dump directory, as written on disk (`3456.dat.gz.enc` when encrypted). */
  path: z.string(),
  bytes: z.number().int().nonnegative(),
  /** SHA-256 (hex) of the bytes on disk; format 2 only. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** AES-256-GCM: base64 IV (12 bytes) and authentication tag (16 bytes). */
  iv: z.string().optional(),
  tag: z.string().optional(),
});

const signatureSchema = z.object({ alg: z.enum(['EdDSA', 'HS256']), kid: z.string(), value: z.string() });

export const manifestSchema = z.object({
  format: z.union([z.literal(1), z.literal(MANIFEST_FORMAT)]),
  id: z.string().regex(/^\d{8}T\d{6}Z(-\d+)?$/),
  /** When the snapshot was taken: the recovery point. */
  createdAt: z.iso.datetime(),
  source: z.object({ host: z.string(), port: z.number().int(), database: z.string() }),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  snapshot: z.string(),
  jobs: z.number().int().positive(),
  migrationHead: z.string().nullable(),
  checksumAlgorithm: z.enum(['sha256-copy', 'sha256-binary', 'sha256', 'sum64', 'ordered']),
  databaseBytes: z.number().int().nonnegative(),
  dumpBytes: z.number().int().nonnegative(),
  /** hashMs (format 2): the SHA-256 of every dump file. */
  timings: z.object({ dumpMs: z.number(), statsMs: z.number(), encryptMs: z.number(), hashMs: z.number().optional(), totalMs: z.number() }),
  encryption: z
    .object({ algorithm: z.literal('aes-256-gcm'), keyId: z.string() })
    .nullable(),
  tables: z.array(tableSchema),
  files: z.array(fileSchema),
  // ---- format 2 (required there; catalog.ts checks it) ----
  /** The source cluster and database (pg_control_system(), pg_database.oid). */
  sourceIdentity: z.object({ systemIdentifier: z.string(), databaseOid: z.number().int() }).optional(),
  /** 1 + the highest sequence among the verified backups of the directory when this one was taken. */
  sequence: z.number().int().positive().optional(),
  /** The backup holding that highest sequence: its id and the SHA-256 (hex) of its manifest.json bytes. */
  predecessor: z.object({ id: z.string(), digest: z.string().regex(/^[0-9a-f]{64}$/) }).nullable().optional(),
  signature: signatureSchema.optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type TableStats = z.infer<typeof tableSchema>;
export type DumpFile = z.infer<typeof fileSchema>;

/** A backup found on disk. */
export interface StoredBackup {
  dir: string;
  manifest: Manifest;
}

/** Writes manifest.json (atomically) and returns its bytes: the predecessor digest of the next backup hashes them. */
export function writeManifest(dir: string, manifest: Manifest): Buffer {
  const partial = join(dir, `${MANIFEST_FILE}.partial`);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  writePrivateFile(partial, bytes);
  renameSync(partial, join(dir, MANIFEST_FILE));
  return bytes;
}

/** The manifest of a backup directory, or an error saying why it is not a valid backup. */
export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new Error(`${dir} holds no ${MANIFEST_FILE}: not a backup, or an unfinished one`);
  const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a valid backup manifest: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Every valid backup directly under `root`, newest first; anything else there is left alone. */
export function listBackups(root: string): StoredBackup[] {
  if (!existsSync(root)) return [];
  const found: StoredBackup[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    try {
      found.push({ dir, manifest: readManifest(dir) });
    } catch {
      // not a backup (or an unfinished one)
    }
  }
  return found.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt) || b.manifest.id.localeCompare(a.manifest.id));
}

/** 2026-11-27T22:15:00.123Z → 20261127T221500Z */
export function backupId(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}
