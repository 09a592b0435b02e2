import type { Database } from '../../../service/src/platform/db.js';
import {
  listMigrationFiles,
  migrateLatest,
  migratorConfig,
  withMigrationLock,
} from '../../../service/src/platform/migrations.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { createReporter, type Reporter } from '../lib/output.js';

/** `secops migrate <action>`: the service's knex migrations, under the same advisory lock it uses. */
export type MigrateOptions = { action: 'latest' } | { action: 'rollback'; all: boolean } | { action: 'status' };

export interface AppliedMigration {
  name: string;
  batch: number;
  migratedAt: Date;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: string[];
  /** Recorded as applied but no file of that name exists (knex refuses to migrate until resolved). */
  missing: string[];
}

export type MigrateResult =
  | { action: 'latest'; database: DatabaseTarget; applied: string[] }
  | { action: 'rollback'; database: DatabaseTarget; rolledBack: string[] }
  | ({ action: 'status'; database: DatabaseTarget } & MigrationStatus);

const TABLE = 'knex_migrations';

export async function run(options: MigrateOptions, ctx: CliContext): Promise<MigrateResult> {
  const out = createReporter(ctx);
  const db = await ctx.openDatabase();
  try {
    const database = describeTarget(db);
    out.line(`Database: ${formatTarget(database)}`);
    switch (options.action) {
      case 'latest':
        return { action: 'latest', database, applied: await latest(db, database, out) };
      case 'rollback':
        return { action: 'rollback', database, rolledBack: await rollback(db, database, options.all, out) };
      case 'status':
        return { action: 'status', database, ...(await status(db, database, out)) };
    }
  } finally {
    await db.close();
  }
}

async function latest(db: Database, database: DatabaseTarget, out: Reporter): Promise<string[]> {
  const applied = await out.step('Applying pending migrations', () => migrateLatest(db));
  out.json({ database, applied });
  if (applied.length === 0) out.success('Database is up to date');
  else {
    out.success(`Applied ${plural(applied.length, 'migration')}:`);
    for (const name of applied) out.line(`  ${name}`);
  }
  return applied;
}

async function rollback(db: Database, database: DatabaseTarget, all: boolean, out: Reporter): Promise<string[]> {
  const label = all ? 'Rolling back every migration' : 'Rolling back the last batch';
  const rolledBack = await out.step(label, () =>
    withMigrationLock(db, async () => {
      const [, names] = (await db.knex.migrate.rollback(migratorConfig(), all)) as [number, string[]];
      return names;
    }),
  );
  out.json({ database, rolledBack });
  if (rolledBack.length === 0) out.success('Nothing to roll back');
  else {
    out.success(`Rolled back ${plural(rolledBack.length, 'migration')}:`);
    for (const name of rolledBack) out.line(`  ${name}`);
  }
  return rolledBack;
}

async function status(db: Database, database: DatabaseTarget, out: Reporter): Promise<MigrationStatus> {
  const result = await out.step('Reading migration state', () => readStatus(db));
  out.json({
    database,
    applied: result.applied.map((m) => m.name),
    pending: result.pending,
    missing: result.missing,
  });
  const missing = new Set(result.missing);
  for (const m of result.applied) {
    const state = missing.has(m.name) ? 'missing' : 'applied';
    out.line(`  ${state}  ${m.name}  (batch ${m.batch}, ${m.migratedAt.toISOString()})`);
  }
  for (const name of result.pending) out.line(`  pending  ${name}`);
  out.line(`${result.applied.length} applied, ${result.pending.length} pending`);
  if (missing.size > 0) {
    out.warn(
      `${plural(missing.size, 'applied migration')} ${missing.size === 1 ? 'has' : 'have'} no file in this build, so \`migrate latest\` and \`rollback\` will refuse to run (is the database newer than this build?)`,
    );
  }
  return result;
}

/**
 * Read-only: knex's own `migrate.list()` creates its bookkeeping tables when they are missing, which a
 * status command must not do.
 */
async function readStatus(db: Database): Promise<MigrationStatus> {
  const files = listMigrationFiles().map((f) => f.name);
  const rows: { name: string; batch: number; migration_time: Date | string }[] = (await db.knex.schema.hasTable(TABLE))
    ? await db.knex(TABLE).select('name', 'batch', 'migration_time').orderBy('id')
    : [];
  const applied = rows.map((r) => ({ name: r.name, batch: r.batch, migratedAt: new Date(r.migration_time) }));
  const appliedNames = new Set(applied.map((m) => m.name));
  const fileNames = new Set(files);
  return {
    applied,
    pending: files.filter((name) => !appliedNames.has(name)),
    missing: applied.filter((m) => !fileNames.has(m.name)).map((m) => m.name),
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
