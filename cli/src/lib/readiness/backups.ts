import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { catalogBackups } from '../backup/catalog.js';
import { MANIFEST_FILE } from '../backup/manifest.js';
import type { SigningKeyring } from '../backup/signing.js';
import { formatAge } from '../duration.js';
import { type CheckResult, fail, pass, undecided } from './result.js';

/**
 * The backups tier (`--backup-dir`): the last restore drill (backup.drill, database.ts), the manifests'
 * signatures (backup.signed) and the last point-in-time-recovery drill report (backup.pitr).
 */
export const BACKUP_CHECK_IDS = ['backup.drill', 'backup.signed', 'backup.pitr'] as const;

export const SIGNED_TITLE = 'Backups signed: every manifest in --backup-dir carries a valid signature (BACKUP_SIGNING_KEY)';
export const PITR_TITLE =
  'Point-in-time recovery: last PITR drill passed, recent, with a recoverability window of at least --pitr-min-window';

/**
 * backup.signed. With the keyring (BACKUP_SIGNING_KEY, _FILE or _REF; a public keyring suffices) every
 * manifest is verified as `secops backup list` does; without it only the presence of a signature can be
 * seen: an unsigned manifest still fails, signed ones stay manual until the key is given.
 */
export function signedBackupsCheck(dir: string, keyring: SigningKeyring | undefined, now = new Date()): CheckResult {
  const id = 'backup.signed';
  const dirs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, MANIFEST_FILE)))
        .map((e) => join(dir, e.name))
    : [];
  if (dirs.length === 0) return fail(id, SIGNED_TITLE, `no backup (a directory with ${MANIFEST_FILE}) under ${dir}`);
  if (keyring) {
    const entries = catalogBackups(dir, { keyring, allowUnsigned: true, now });
    const bad = entries.filter((e) => e.status !== 'verified');
    if (bad.length > 0)
      return fail(
        id,
        SIGNED_TITLE,
        bad
          .map((e) => `${basename(e.dir)}: ${e.status === 'refused' ? `${e.code} — ${e.reason}` : 'unsigned format-1 manifest'}`)
          .join('; '),
      );
    return pass(id, SIGNED_TITLE, `${entries.length} backup(s) under ${dir}, every manifest's signature verified`);
  }
  const unsigned: string[] = [];
  const kids = new Set<string>();
  for (const d of dirs) {
    try {
      const manifest = JSON.parse(readFileSync(join(d, MANIFEST_FILE), 'utf8')) as { signature?: { kid?: unknown } };
      if (typeof manifest.signature?.kid === 'string') kids.add(manifest.signature.kid);
      else unsigned.push(basename(d));
    } catch (err) {
      unsigned.push(`${basename(d)} (unreadable: ${(err as Error).message})`);
    }
  }
  if (unsigned.length > 0) return fail(id, SIGNED_TITLE, `unsigned manifest(s): ${unsigned.join(', ')}`);
  return undecided(
    id,
    SIGNED_TITLE,
    `${dirs.length} manifest(s) carry a signature (key ${[...kids].join(', ')}) but BACKUP_SIGNING_KEY is not set to verify them (its public keyring suffices)`,
  );
}

interface PitrReport {
  ok?: unknown;
  finishedAt?: unknown;
  failures?: unknown;
  window?: { seconds?: unknown; from?: unknown; to?: unknown } | null;
}

/**
 * backup.pitr, from the newest `pitr-drill-*.json` in --backup-dir (the `secops --json pitr drill`
 * report the drill job keeps): passed, younger than maxAgeMs, and its window spans minWindowMs. No
 * report: manual (PITR is optional; the nightly dumps are the backups).
 */
export function pitrCheck(dir: string, maxAgeMs: number, minWindowMs: number, now = new Date()): CheckResult {
  const id = 'backup.pitr';
  const reports = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => /^pitr-drill-.*\.json$/.test(n))
        .flatMap((n) => {
          try {
            const r = JSON.parse(readFileSync(join(dir, n), 'utf8')) as PitrReport;
            return typeof r.finishedAt === 'string' && !Number.isNaN(Date.parse(r.finishedAt)) ? [{ file: n, r }] : [];
          } catch {
            return [];
          }
        })
        .sort((a, b) => Date.parse(b.r.finishedAt as string) - Date.parse(a.r.finishedAt as string))
    : [];
  const latest = reports[0];
  if (!latest)
    return undecided(
      id,
      PITR_TITLE,
      `no pitr-drill-*.json under ${dir}: keep \`secops --json pitr drill\`'s report there to prove the window`,
    );
  const { r, file } = latest;
  const ageMs = now.getTime() - Date.parse(r.finishedAt as string);
  const windowMs = typeof r.window?.seconds === 'number' ? r.window.seconds * 1000 : undefined;
  const problems = [
    r.ok !== true && `failed: ${Array.isArray(r.failures) ? String(r.failures[0] ?? 'see the report') : 'see the report'}`,
    ageMs > maxAgeMs && `older than ${formatAge(maxAgeMs)}`,
    windowMs === undefined
      ? 'no recoverability window'
      : windowMs < minWindowMs && `window ${formatAge(windowMs)} is shorter than ${formatAge(minWindowMs)}`,
  ].filter((p): p is string => typeof p === 'string');
  const seen = `${file}: drill ${formatAge(ageMs)} ago, ${r.ok === true ? 'OK' : 'FAILED'}, window ${windowMs === undefined ? 'none' : formatAge(windowMs)}`;
  return problems.length === 0 ? pass(id, PITR_TITLE, seen) : fail(id, PITR_TITLE, `${seen}: ${problems.join('; ')}`);
}
