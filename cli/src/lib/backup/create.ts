import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openSession } from '../../../../service/src/public/db.js';
import { CliError } from '../errors.js';
import { createPrivateDirectory, ensureDirectory, restrictTree } from '../private-files.js';
import { nextInChain } from './catalog.js';
import { sha256File } from './dump-integrity.js';
import { encryptFile, keyId } from './encryption.js';
import { backupId, DUMP_DIR, type DumpFile, type Manifest, MANIFEST_FORMAT, writeManifest } from './manifest.js';
import { databaseIdentity, libpqEnv, requireTool, runTool, toolVersion } from './pg-tools.js';
import { forEachLimit } from './limit.js';
import { signManifest, type SigningKeyring } from './signing.js';
import { sourceIdentity } from './source-identity.js';
import { allTableStats, type ChecksumAlgorithm, listTables, migrationHead, STABLE_TEXT_SETTINGS, usableChecksum } from './table-stats.js';

export interface CreateBackupOptions {
  sourceUrl: string;
  /** Parent directory: the backup becomes `<root>/<id>/`. */
  root: string;
  jobs: number;
  checksum: ChecksumAlgorithm;
  /** AES-256-GCM key (32 bytes) to encrypt every dump file with; undefined → plaintext. */
  key?: Buffer;
  /** Signs the manifest (BACKUP_SIGNING_KEY); its verified backups in `root` give the sequence and predecessor. */
  keyring: SigningKeyring;
  env: Readonly<Record<string, string | undefined>>;
  now?: () => Date;
  signal?: AbortSignal;
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Takes a backup from one consistent snapshot: a REPEATABLE READ transaction exports its snapshot,
 * pg_dump's workers import it (`--snapshot`), and the same transaction computes every table's count
 * and checksum while it is held — so the manifest describes exactly the rows in the dump.
 * The backup is assembled in `<id>.partial/` and renamed only once its manifest is written.
 */
export async function createBackup(options: CreateBackupOptions): Promise<{ dir: string; manifest: Manifest }> {
  const started = performance.now();
  const pgDump = requireTool('pg_dump', options.env);
  // Asked while the snapshot is prepared and the dump runs (Debian's pg_wrapper alone takes ~25 ms to start).
  const pgDumpVersion = toolVersion(pgDump, options.env);
  pgDumpVersion.catch(() => undefined); // awaited once the dump is done; a failure before that is not an unhandled one
  // A raw session with an error listener: a connection dropped during a long dump fails the backup
  // (the next query, or the check below) instead of crashing the CLI with an unhandled 'error' event.
  const session = await openSession(options.sourceUrl, { applicationName: 'secops-backup' });
  const { client } = session;
  let work: string | undefined;
  try {
    await client.query(STABLE_TEXT_SETTINGS.join('; ')); // one round trip (a simple query of several statements)
    await client.query('begin isolation level repeatable read, read only');
    const { rows } = await client.query<{ snapshot: string; version: string; size: string }>(
      "select pg_export_snapshot() as snapshot, current_setting('server_version') as version, pg_database_size(current_database()) as size",
    );
    const { snapshot, version, size } = rows[0] as { snapshot: string; version: string; size: string };
    const identity = await sourceIdentity(client);
    const checksum = await usableChecksum(client, options.checksum);
    const createdAt = (options.now ?? (() => new Date()))();
    const { id, dir } = freshDirectory(options.root, backupId(createdAt));
    work = `${dir}.partial`;
    createPrivateDirectory(work); // 0700 before pg_dump writes a byte into it

    // pg_dump and the statistics run at the same time, both inside the exported snapshot.
    let dumpMs = 0;
    let statsMs = 0;
    const dump = (async () => {
      const t = performance.now();
      await runTool(
        pgDump,
        ['--format=directory', `--jobs=${options.jobs}`, `--snapshot=${snapshot}`, '--no-password', `--file=${join(work as string, DUMP_DIR)}`],
        { env: options.env, connection: options.sourceUrl, signal: options.signal },
      );
      dumpMs = performance.now() - t;
    })();
    const stats = (async () => {
      const t = performance.now();
      const tables = await allTableStats(client, await listTables(client), checksum);
      const head = await migrationHead(client);
      statsMs = performance.now() - t;
      return { tables, head };
    })();
    const [dumpResult, statsResult] = await Promise.allSettled([dump, stats]);
    if (dumpResult.status === 'rejected') throw dumpResult.reason;
    if (statsResult.status === 'rejected') throw statsResult.reason;
    await client.query('commit');

    const encryptStarted = performance.now();
    const files = options.key
      ? await options.step('Encrypting the dump (AES-256-GCM)', () => encryptDump(join(work as string, DUMP_DIR), options.key as Buffer, options.jobs))
      : dumpFiles(join(work, DUMP_DIR));
    const encryptMs = options.key ? performance.now() - encryptStarted : 0;
    const hashStarted = performance.now();
    await forEachLimit(files, Math.max(1, options.jobs), async (f) => {
      f.sha256 = await sha256File(join(work as string, DUMP_DIR, f.path));
    });
    const hashMs = performance.now() - hashStarted;

    const source = libpqEnv(options.sourceUrl);
    const content: Manifest = {
      format: MANIFEST_FORMAT,
      id,
      createdAt: createdAt.toISOString(),
      source: { host: source.PGHOST ?? 'localhost', port: Number(source.PGPORT ?? 5432), database: databaseIdentity(options.sourceUrl).split('/').slice(1).join('/') },
      serverVersion: version,
      pgDumpVersion: await pgDumpVersion,
      snapshot,
      jobs: options.jobs,
      migrationHead: statsResult.value.head,
      checksumAlgorithm: checksum,
      databaseBytes: Number(size),
      dumpBytes: files.reduce((sum, f) => sum + f.bytes, 0),
      timings: { dumpMs: round(dumpMs), statsMs: round(statsMs), encryptMs: round(encryptMs), hashMs: round(hashMs), totalMs: round(performance.now() - started) },
      encryption: options.key ? { algorithm: 'aes-256-gcm', keyId: keyId(options.key) } : null,
      tables: statsResult.value.tables,
      files,
      sourceIdentity: identity,
      ...nextInChain(options.root, { keyring: options.keyring, allowUnsigned: false, now: createdAt }),
    };
    const manifest: Manifest = { ...content, signature: signManifest(content, options.keyring) };
    const lost = session.lost();
    if (lost) throw new Error(`the connection holding the backup's snapshot was lost: ${lost.message}`);
    restrictTree(work); // pg_dump creates its files 0666 & ~umask: 0600 whatever the umask
    writeManifest(work, manifest);
    renameSync(work, dir);
    work = undefined;
    return { dir, manifest };
  } finally {
    await session.close();
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

/** `<root>/<id>`, or `<id>-2`, `-3`… when a backup was already taken within the same second. */
function freshDirectory(root: string, base: string): { id: string; dir: string } {
  ensureDirectory(root);
  for (let n = 1; ; n += 1) {
    const id = n === 1 ? base : `${base}-${n}`;
    const dir = join(root, id);
    if (!existsSync(dir) && !existsSync(`${dir}.partial`)) return { id, dir };
    if (n > 1000) throw new CliError(`cannot find a free backup directory name under ${root}`);
  }
}

function dumpFiles(dumpDir: string): DumpFile[] {
  return readdirSync(dumpDir)
    .sort()
    .map((path) => ({ path, bytes: statSync(join(dumpDir, path)).size }));
}

/** Encrypts every file of the dump to `<file>.enc` and removes the plaintext. */
async function encryptDump(dumpDir: string, key: Buffer, jobs: number): Promise<DumpFile[]> {
  const names = readdirSync(dumpDir).sort();
  const files: DumpFile[] = new Array(names.length);
  await forEachLimit(names, Math.max(1, jobs), async (name, i) => {
    const sealed = await encryptFile(key, join(dumpDir, name), join(dumpDir, `${name}.enc`), name);
    rmSync(join(dumpDir, name));
    files[i] = { path: `${name}.enc`, bytes: statSync(join(dumpDir, `${name}.enc`)).size, ...sealed };
  });
  return files;
}

function round(ms: number): number {
  return Math.round(ms);
}
