import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../../../service/src/public/db.js';
import {
  type AdvisoryLockHolder,
  type CapturedQuery,
  DEFAULT_MIGRATION_TIMEOUTS,
  KNEX_LOCK_TABLE,
  listMigrationFiles,
  MIGRATION_EXTENSION,
  MIGRATION_LOCK_KEY,
  MIGRATIONS_DIR,
  type MigrationDirection,
  type MigrationState,
  type MigrationTimeouts,
  ModifiedMigrationsError,
  migrationLockHolders,
  readMigrationState,
  runMigrations,
  withAdvisoryLock,
} from '../../../service/src/public/db.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { CheckFailedError, UsageError } from '../lib/errors.js';
import { createReporter, type Reporter } from '../lib/output.js';
import { formatDuration } from '../lib/duration.js';

/** `secops migrate <action>`: the service's knex migrations, under the same advisory lock it uses. */
export interface RunSettings {
  /** Print the SQL that would run; everything happens in a transaction that is rolled back. */
  dryRun?: boolean;
  /** Per-migration limits (default: DEFAULT_MIGRATION_TIMEOUTS). */
  timeouts?: MigrationTimeouts;
  /** Migrations folder (tests use a copy). */
  dir?: string;
}

export type MigrateOptions =
  | ({ action: 'latest' | 'up'; allowModified?: boolean } & RunSettings)
  | ({ action: 'down' } & RunSettings)
  | ({ action: 'rollback'; all: boolean } & RunSettings)
  | { action: 'status'; dir?: string }
  | { action: 'make'; name: string; dir?: string; now?: Date }
  | { action: 'unlock'; terminate?: boolean };

export type { AdvisoryLockHolder };

export interface UnlockResult {
  /** Sessions that held the migration advisory lock when unlock ran. */
  holders: AdvisoryLockHolder[];
  /** Backends ended by --terminate. */
  terminated: number[];
  /** knex's own lock row: `cleared` when it was stuck, `free` when it was not, `absent` with no table. */
  knexLock: 'cleared' | 'free' | 'absent';
}

export type MigrateResult =
  | { action: 'latest' | 'up'; database: DatabaseTarget; applied: string[]; dryRun: boolean; queries: CapturedQuery[] }
  | { action: 'down' | 'rollback'; database: DatabaseTarget; rolledBack: string[]; dryRun: boolean; queries: CapturedQuery[] }
  | ({ action: 'status'; database: DatabaseTarget } & MigrationState)
  | { action: 'make'; file: string }
  | ({ action: 'unlock'; database: DatabaseTarget } & UnlockResult);

export async function run(options: MigrateOptions, ctx: CliContext): Promise<MigrateResult> {
  const out = createReporter(ctx);
  // `make` writes a file and needs no database.
  if (options.action === 'make') return { action: 'make', file: make(options, out) };
  const db = await ctx.database();
  try {
    const database = describeTarget(db);
    out.line(`Database: ${formatTarget(database)}`);
    switch (options.action) {
      case 'latest':
      case 'up':
        return { action: options.action, database, ...(await forward(db, database, options, out)) };
      case 'down':
      case 'rollback':
        return { action: options.action, database, ...(await backward(db, database, options, out)) };
      case 'status':
        return { action: 'status', database, ...(await status(db, database, options.dir, out)) };
      case 'unlock':
        return { action: 'unlock', database, ...(await unlock(db, database, options.terminate === true, out)) };
    }
  } finally {
    await db.close();
  }
}

async function migrateRun(db: Database, direction: MigrationDirection, options: RunSettings & { allowModified?: boolean }, out: Reporter) {
  const timeouts = options.timeouts ?? DEFAULT_MIGRATION_TIMEOUTS;
  const labels: Record<MigrationDirection, string> = {
    latest: 'Applying pending migrations',
    up: 'Applying the next pending migration',
    down: 'Rolling back the last migration',
    rollback: 'Rolling back the last batch',
    'rollback-all': 'Rolling back every migration',
  };
  const limits = `lock_timeout ${formatDuration(timeouts.lockTimeoutMs)}, statement_timeout ${formatDuration(timeouts.statementTimeoutMs)}`;
  const label = `${labels[direction]}${options.dryRun ? ' (dry run, rolled back)' : ''} — ${limits}`;
  try {
    return await out.step(label, () =>
      runMigrations(db, direction, {
        dir: options.dir,
        timeouts,
        dryRun: options.dryRun,
        allowModified: options.allowModified,
      }),
    );
  } catch (err) {
    if (err instanceof ModifiedMigrationsError) {
      throw new CheckFailedError(`${err.message} (or pass --allow-modified once you have checked it is harmless)`);
    }
    if (isLockTimeout(err)) {
      throw new CheckFailedError(
        `a migration could not take a table lock within ${formatDuration(timeouts.lockTimeoutMs)} (lock_timeout): a long transaction holds it. Nothing of that migration was committed; retry later, or see runbooks/deploy-rollback.md (${(err as Error).message})`,
      );
    }
    throw err;
  }
}

async function forward(
  db: Database,
  database: DatabaseTarget,
  options: RunSettings & { action: 'latest' | 'up'; allowModified?: boolean },
  out: Reporter,
) {
  const result = await migrateRun(db, options.action, options, out);
  const dryRun = options.dryRun === true;
  out.json({ database, applied: result.names, baselined: result.baselined, dryRun, ...(dryRun ? { queries: result.queries } : {}) });
  if (result.baselined.length > 0) {
    out.line(`Recorded the checksums of ${plural(result.baselined.length, 'previously applied migration')} (baseline)`);
  }
  if (dryRun) printQueries(result.queries, out);
  const verb = dryRun ? 'Would apply' : 'Applied';
  if (result.names.length === 0) out.success('Database is up to date');
  else {
    out.success(`${verb} ${plural(result.names.length, 'migration')}:`);
    for (const name of result.names) out.line(`  ${name}`);
  }
  return { applied: result.names, dryRun, queries: result.queries };
}

async function backward(
  db: Database,
  database: DatabaseTarget,
  options: RunSettings & ({ action: 'down' } | { action: 'rollback'; all: boolean }),
  out: Reporter,
) {
  const direction: MigrationDirection = options.action === 'down' ? 'down' : options.all ? 'rollback-all' : 'rollback';
  const result = await migrateRun(db, direction, options, out);
  const dryRun = options.dryRun === true;
  out.json({ database, rolledBack: result.names, dryRun, ...(dryRun ? { queries: result.queries } : {}) });
  if (dryRun) printQueries(result.queries, out);
  if (result.names.length === 0) out.success('Nothing to roll back');
  else {
    out.success(`${dryRun ? 'Would roll back' : 'Rolled back'} ${plural(result.names.length, 'migration')}:`);
    for (const name of result.names) out.line(`  ${name}`);
  }
  return { rolledBack: result.names, dryRun, queries: result.queries };
}

function printQueries(queries: readonly CapturedQuery[], out: Reporter): void {
  out.line('-- dry run: these statements ran inside a transaction that was rolled back');
  out.line('BEGIN;');
  for (const q of queries) {
    const sql = q.sql.trim().replace(/;$/, '');
    out.line(q.bindings.length > 0 ? `${sql}; -- bindings: ${JSON.stringify(q.bindings)}` : `${sql};`);
  }
  out.line('ROLLBACK;');
}

async function status(db: Database, database: DatabaseTarget, dir: string | undefined, out: Reporter): Promise<MigrationState> {
  const result = await out.step('Reading migration state', () => readMigrationState(db.knex, dir));
  out.json({
    database,
    applied: result.applied.map((m) => m.name),
    pending: result.pending,
    missing: result.missing,
    modified: result.modified,
    unrecorded: result.unrecorded,
  });
  const missing = new Set(result.missing);
  const modified = new Set(result.modified);
  for (const m of result.applied) {
    const state = missing.has(m.name) ? 'missing ' : modified.has(m.name) ? 'modified' : 'applied ';
    const sum = m.recordedChecksum ? `, sha256 ${m.recordedChecksum.slice(0, 12)}` : ', no checksum recorded';
    out.line(`  ${state}  ${m.name}  (batch ${m.batch}, ${m.migratedAt.toISOString()}${sum})`);
  }
  for (const name of result.pending) out.line(`  pending   ${name}`);
  out.line(`${result.applied.length} applied, ${result.pending.length} pending, ${result.modified.length} modified`);
  if (missing.size > 0) {
    out.warn(
      `${plural(missing.size, 'applied migration')} ${missing.size === 1 ? 'has' : 'have'} no file in this build, so \`migrate latest\` and \`rollback\` will refuse to run (is the database newer than this build?)`,
    );
  }
  if (modified.size > 0) {
    out.warn(
      `${plural(modified.size, 'applied migration')} changed since ${modified.size === 1 ? 'it was' : 'they were'} applied (${result.modified.join(', ')}): \`migrate latest\` refuses to run until the file is restored (or --allow-modified)`,
    );
  }
  if (result.unrecorded.length > 0) {
    out.line(`${plural(result.unrecorded.length, 'applied migration')} without a recorded checksum; the next \`migrate latest\` records them`);
  }
  return result;
}

/**
 * Clears knex's own lock row when a run died holding it, but only while holding our advisory lock
 * ourselves: a live holder means a migration is running, and its knex lock is legitimate.
 */
async function unlock(db: Database, database: DatabaseTarget, terminate: boolean, out: Reporter): Promise<UnlockResult> {
  const holders = db.kind === 'postgres' ? await migrationLockHolders(db.knex, MIGRATION_LOCK_KEY) : [];
  const holding = holders.filter((h) => h.granted);
  for (const h of holding) out.line(`Advisory lock held by ${describeHolder(h)}`);
  if (holding.length === 0) out.line('Advisory lock: free');
  const terminated: number[] = [];
  if (holding.length > 0) {
    if (!terminate) {
      throw new CheckFailedError(
        `the migration lock is held by ${holding.map(describeHolder).join('; ')}. A migration is probably running: wait for it to finish, or end it with \`secops migrate unlock --terminate\``,
      );
    }
    for (const h of holding) {
      const r = await db.knex.raw('select pg_terminate_backend(?) as ended', [h.pid]);
      if ((r.rows as { ended: boolean }[])[0]?.ended) {
        terminated.push(h.pid);
        out.line(`Terminated backend ${h.pid}`);
      } else out.warn(`could not terminate backend ${h.pid}`);
    }
  }
  const knexLock = await withAdvisoryLock(db, MIGRATION_LOCK_KEY, () => clearKnexLock(db), {
    // A terminated backend releases its session locks as it exits: allow it a moment.
    waitTimeoutMs: terminated.length > 0 ? 10_000 : 0,
    what: 'the migration lock',
    hint: 'a migration started meanwhile?',
  });
  out.json({ database, advisoryLock: { held: holding.length > 0, holders }, terminated, knexLock });
  out.success(knexLock === 'cleared' ? 'Cleared the stale knex_migrations_lock row' : `knex lock: ${knexLock}`);
  return { holders, terminated, knexLock };
}

async function clearKnexLock(db: Database): Promise<UnlockResult['knexLock']> {
  if (!(await db.knex.schema.hasTable(KNEX_LOCK_TABLE))) return 'absent';
  const cleared = await db.knex(KNEX_LOCK_TABLE).where('is_locked', 1).update({ is_locked: 0 });
  return cleared > 0 ? 'cleared' : 'free';
}

function describeHolder(h: AdvisoryLockHolder): string {
  const since = h.since ? `, since ${h.since.toISOString()}` : '';
  return `backend ${h.pid} (${h.applicationName || 'unknown application'}, ${h.state ?? 'unknown state'}${since})`;
}

/** Accepts snake_case, kebab-case or camelCase; writes snake_case. */
export function migrationFileStem(name: string): string {
  const snake = name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(snake) || snake.length > 60) {
    throw new UsageError(
      `invalid migration name "${name}": use letters, digits and _ or -, starting with a letter (at most 60), e.g. add_message_tokens`,
    );
  }
  return snake;
}

function utcStamp(d: Date): string {
  return d.toISOString().replace(/\D/g, '').slice(0, 14);
}

function make(options: { name: string; dir?: string; now?: Date }, out: Reporter): string {
  const stem = migrationFileStem(options.name);
  if (options.dir === undefined && MIGRATION_EXTENSION !== '.ts') {
    throw new UsageError('`migrate make` writes TypeScript sources: run it from a source checkout (or pass --dir)');
  }
  const dir = options.dir ?? MIGRATIONS_DIR;
  const existing = listMigrationFiles(dir).map((f) => f.name);
  if (existing.some((n) => n.slice(15) === stem)) throw new UsageError(`a migration named ${stem} already exists`);
  const stamp = utcStamp(options.now ?? new Date());
  const newest = existing.at(-1);
  if (newest && newest.slice(0, 14) >= stamp) {
    throw new CheckFailedError(`${newest} is not older than ${stamp}: a new migration must sort after every existing one`);
  }
  const file = join(dir, `${stamp}_${stem}.ts`);
  // 'wx': never overwrite a file that appeared in the meantime.
  writeFileSync(file, migrationTemplate(stem), { flag: 'wx' });
  out.json({ file });
  out.success(`Created ${file}`);
  return file;
}

function migrationTemplate(stem: string): string {
  return `import type { Knex } from 'knex';

/**
 * ${stem.replace(/_/g, ' ')}.
 *
 * Expand/contract (runbooks/deploy-rollback.md): this release may only *expand* the schema in a way
 * the previous release still runs against — add nullable columns or new tables, backfill in batches,
 * then switch reads. Dropping or renaming what the previous release uses (*contract*) belongs in a
 * later release, once no running version needs it. Each migration runs in one transaction with
 * lock_timeout and statement_timeout set (secops migrate --lock-timeout/--statement-timeout).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('select 1');
}

/** Must undo up() exactly. If that would destroy data, say so here: rolling back means a restore. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('select 1');
}
`;
}

function isLockTimeout(err: unknown): boolean {
  // 55P03 lock_not_available: raised when lock_timeout expires.
  for (let e: unknown = err; e instanceof Error; e = e.cause) if ((e as { code?: string }).code === '55P03') return true;
  return false;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
