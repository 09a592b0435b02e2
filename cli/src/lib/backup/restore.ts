import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { withSession } from '../../../../service/src/public/db.js';
import { CliError } from '../errors.js';
import { checkDumpListing, copyVerified, fileMismatch, largestFirst } from './dump-integrity.js';
import { decryptFile, keyId } from './encryption.js';
import { forEachLimit } from './limit.js';
import { DUMP_DIR, type Manifest, type StoredBackup } from './manifest.js';
import { libpqEnv, requireTool, runTool, type ToolProgress } from './pg-tools.js';
import { assertSafeBackup, dumpFilePath } from './safe-path.js';

/**
 * The pieces shared by `backup restore` and `backup drill`: a plaintext view of the dump, checked
 * against the signed manifest — copied into a private temporary directory and hashed as it is copied
 * when the backup is not encrypted, hashed as it is decrypted there when it is (each file read once;
 * pg_restore reads exactly what was checked) — and pg_restore into a database.
 */

export interface PlainDump {
  dir: string;
  /** Removes the private copy, if one was made. */
  dispose(): void;
  /** Of the time taken, how much went to decrypting and hashing an encrypted backup (0 for an unencrypted one). */
  decryptMs: number;
}

/** What a progress line says while plainDump runs. */
export function plainDumpLabel(manifest: Manifest): string {
  return manifest.encryption
    ? 'Checking every file against the signed manifest (size, SHA-256) and decrypting'
    : 'Checking every file against the signed manifest (size, SHA-256) as it is copied privately';
}

/**
 * Refuses the backup (BackupRefusedError: file_missing, file_unexpected, file_mismatch) unless its dump
 * directory holds exactly the listed files with their signed sizes and SHA-256s; nothing is handed to
 * pg_restore before that, and a copy or plaintext that fails the check is deleted at once.
 */
export async function plainDump(
  backup: StoredBackup,
  key: Buffer | undefined,
  jobs: number,
  options: {
    /**
     * Called with the plaintext directory as soon as its table of contents (`toc.dat`) has been checked,
     * while the data files are still being checked: what reads only the table of contents (`pg_restore
     * --list`) can start there. Nothing may be restored before plainDump has resolved.
     */
    onTocChecked?: (dir: string) => void;
  } = {},
): Promise<PlainDump> {
  const dumpDir = join(backup.dir, DUMP_DIR);
  assertSafeBackup(backup);
  const { encryption, files } = backup.manifest;
  if (encryption) {
    if (!key) {
      throw new CliError(`backup ${backup.manifest.id} is encrypted: pass --encrypt-key-file or --encrypt-key-ref (or set BACKUP_ENCRYPT_KEY_FILE / BACKUP_ENCRYPT_KEY_REF)`, {
        code: 'key_required',
      });
    }
    if (keyId(key) !== encryption.keyId) {
      throw new CliError(`backup ${backup.manifest.id} was encrypted with another key (key id ${encryption.keyId})`, {
        code: 'key_mismatch',
      });
    }
  }
  checkDumpListing(backup);
  if (!encryption) {
    // Format 1 (--allow-unsigned) has no file hashes: the dump is read where it is.
    if (!files.every((f) => f.sha256)) {
      options.onTocChecked?.(dumpDir);
      return { dir: dumpDir, dispose: () => undefined, decryptMs: 0 };
    }
    const copy = mkdtempSync(join(backup.dir, '.verified-'));
    const dispose = () => rmSync(copy, { recursive: true, force: true });
    try {
      await forEachLimit(tocFirst(files), Math.max(1, jobs), async (file) => {
        await copyVerified(dumpFilePath(dumpDir, file.path), dumpFilePath(copy, file.path), file.sha256 as string, backup.manifest.id, file.path);
        if (file.path === TOC_FILE) options.onTocChecked?.(copy);
      });
    } catch (err) {
      dispose();
      throw err;
    }
    return { dir: copy, dispose, decryptMs: 0 };
  }
  // Each file is hashed as it is decrypted, in one read: its plaintext stays in the private directory,
  // unread, until both its GCM tag and its SHA-256 match the signed manifest, and is deleted otherwise.
  const started = performance.now();
  // Next to the backup rather than in /tmp: same filesystem, same access rights, same free space.
  // mkdtemp makes a fresh 0700 directory; the plaintext names in it are checked manifest names.
  const tmp = mkdtempSync(join(backup.dir, '.decrypted-'));
  const dispose = () => rmSync(tmp, { recursive: true, force: true });
  try {
    await forEachLimit(tocFirst(files), Math.max(1, jobs), async (file) => {
      if (!file.iv || !file.tag || !file.path.endsWith('.enc')) throw new CliError(`${file.path}: no IV/tag in the manifest`);
      const name = file.path.slice(0, -'.enc'.length);
      const to = dumpFilePath(tmp, name);
      const hash = createHash('sha256');
      let read = 0;
      const failure = await decryptFile(key as Buffer, dumpFilePath(dumpDir, file.path), to, name, { iv: file.iv, tag: file.tag }, (chunk) => {
        hash.update(chunk);
        read += chunk.length;
      }).then(
        () => undefined,
        (err: unknown) => err,
      );
      // A file read to its end whose bytes are not the signed ones is refused as altered (file_mismatch),
      // whether its GCM tag failed too or not; anything else (a read error) is reported as it is.
      // Format 1 (--allow-unsigned) has no file hashes: the GCM tag alone.
      const altered = file.sha256 !== undefined && (read === file.bytes ? hash.digest('hex') !== file.sha256 : failure === undefined);
      if (altered) {
        rmSync(to, { force: true });
        throw fileMismatch(backup.manifest.id, file.path);
      }
      if (failure) throw failure;
      if (name === TOC_FILE) options.onTocChecked?.(tmp);
    });
  } catch (err) {
    dispose();
    throw err;
  }
  return { dir: tmp, dispose, decryptMs: Math.round(performance.now() - started) };
}

/** A directory-format dump's table of contents. */
const TOC_FILE = 'toc.dat';

/** The table of contents (a few kB) first, then the largest files first, so that none starts last. */
function tocFirst<T extends { path: string; bytes: number }>(files: readonly T[]): T[] {
  const isToc = (f: T) => f.path === TOC_FILE || f.path === `${TOC_FILE}.enc`;
  return [...files.filter(isToc), ...largestFirst(files.filter((f) => !isToc(f)))];
}

export interface RestoreOptions {
  targetUrl: string;
  jobs: number;
  /** `--clean --if-exists`: drop the objects of the dump before recreating them. */
  clean?: boolean;
  /** Skip ownership and GRANTs (a scratch copy on a server without the source's roles). */
  noOwner?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /**
   * Called with a public table's name as soon as its data is in the target (committed), while the
   * restore goes on building indexes and loading other tables: a drill verifies it meanwhile. Only a
   * parallel restore (jobs ≥ 2) reports this; a table it does not report is loaded when the
   * restore has finished.
   */
  onTableLoaded?: (table: string) => void;
  /** The dump's TABLE DATA items (tableDataItems), when the caller started listing them earlier. */
  tableData?: Promise<Map<string, string>>;
}

export async function pgRestore(dumpDir: string, options: RestoreOptions): Promise<void> {
  const pgRestoreTool = requireTool('pg_restore', options.env);
  const database = libpqEnv(options.targetUrl).PGDATABASE;
  if (!database) throw new CliError('the restore target URL names no database');
  const args = ['--no-password', '--exit-on-error', `--jobs=${options.jobs}`, `--dbname=${database}`];
  if (options.clean) args.push('--clean', '--if-exists');
  if (options.noOwner) args.push('--no-owner', '--no-privileges');
  let progress: ToolProgress | undefined;
  const onTableLoaded = options.onTableLoaded;
  if (onTableLoaded && options.jobs >= 2) {
    const tables = await (options.tableData ?? tableDataItems(dumpDir, options.env));
    args.push('--verbose');
    progress = {
      matches: VERBOSE_LINE,
      onLine: (line) => {
        const id = finishedTableData(line);
        const table = id === undefined ? undefined : tables.get(id);
        if (table !== undefined) onTableLoaded(table);
      },
    };
  }
  args.push(dumpDir);
  await runTool(pgRestoreTool, args, { env: options.env, connection: options.targetUrl, signal: options.signal, progress });
}

/**
 * What `pg_restore --verbose` says about its progress: `pg_restore: <message>`, not `error:`,
 * `warning:`, `detail:` or `hint:`. A parallel restore's leader and its worker processes share stderr,
 * and PostgreSQL writes a message's `pg_restore:` prefix, its space and its text with separate writes
 * (src/common/logging.c), so two messages can interleave: `pg_restore:pg_restore:  finished item …`
 * on one line, the other message's text alone on the next. Repeated prefixes are read through; a
 * line with no prefix is progress only when it is a `finished item` (anything else may be an error's
 * continuation, `Command was: …`, and stays in the error message).
 */
export const VERBOSE_LINE = /^(?:pg_restore:\s*)+(?!\s|pg_restore:|error:|warning:|detail:|hint:)|^finished item \d+ /;
/** A parallel restore's worker is done with an item: `pg_restore: finished item 3567 TABLE DATA messages`. */
const FINISHED_TABLE_DATA = /(?:^|\s)finished item (\d+) TABLE DATA /;

/** The dump id of the TABLE DATA item a progress line reports finished, if it does. */
export function finishedTableData(line: string): string | undefined {
  return FINISHED_TABLE_DATA.exec(line)?.[1];
}

/**
 * The dump's TABLE DATA items of the public schema, by dump id → table name, from its table of contents
 * (`pg_restore --list`: `3567; 0 16450 TABLE DATA public messages rampart`). A line that does not read
 * unambiguously (a name with a space) is left out: that table counts as loaded when the restore ends.
 */
export async function tableDataItems(dumpDir: string, env: Readonly<Record<string, string | undefined>>): Promise<Map<string, string>> {
  const { stdout } = await runTool(requireTool('pg_restore', env), ['--list', dumpDir], { env });
  const items = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^(\d+); \d+ \d+ TABLE DATA (\S+) (\S+) (\S+)$/.exec(line);
    if (match?.[2] === 'public') items.set(match[1] as string, match[3] as string);
  }
  return items;
}

/** Tables in the target's public schema: a restore refuses a database that already holds any. */
export async function publicTableCount(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ n: string }>(
      "select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p')",
    );
    return Number(rows[0]?.n ?? 0);
  });
}

/** `fn` with a raw session on `url` (a terminated scratch connection surfaces on the next query). */
export function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withSession(url, { applicationName: 'secops-backup' }, (session) => fn(session.client));
}

export function describeBackup(manifest: Manifest): string {
  return `${manifest.id} (${manifest.source.host}:${manifest.source.port}/${manifest.source.database})`;
}
