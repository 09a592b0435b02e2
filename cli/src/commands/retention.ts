import type { Database } from '../../../service/src/public/db.js';
import type { CliContext } from '../lib/context.js';
import { type DatabaseTarget, describeTarget, formatTarget } from '../lib/database.js';
import { createReporter, type Reporter } from '../lib/output.js';
import { formatDuration } from '../lib/duration.js';
import { type RetentionHooks, type RunSummary, runRetention } from '../lib/retention/engine.js';
import { interruptedRuns } from '../lib/retention/journal.js';
import { countArchivable, type RetentionCounts } from '../lib/retention/queries.js';
import { retentionKey } from '../lib/backup/settings.js';

/** `secops retention run`: archive, then delete, data older than its retention window. */
export interface RetentionOptions {
  /** Messages created more than this long ago (ms) are archived. */
  olderThanMs: number;
  /** Where runs are archived; required unless dryRun. */
  archiveDir: string | undefined;
  /** Audit events older than this (ms) are archived too; undefined keeps them all. */
  auditOlderThanMs?: number;
  batchSize: number;
  dryRun: boolean;
  /** The archive key (else RETENTION_ENCRYPT_KEY_FILE / _REF); none → parts are written unencrypted. */
  encryptKeyFile?: string;
  encryptKeyRef?: string;
  /** The clock (tests freeze it). */
  now?: Date;
  /** Crash simulation for tests. */
  hooks?: RetentionHooks;
}

export type RetentionResult =
  | { dryRun: true; database: DatabaseTarget; cutoffs: Cutoffs; wouldArchive: RetentionCounts; interruptedRuns: string[] }
  | { dryRun: false; database: DatabaseTarget; cutoffs: Cutoffs; archived: RetentionCounts; runs: RunSummary[] };

interface Cutoffs {
  messages: string;
  audit_events: string | null;
}

export async function run(options: RetentionOptions, ctx: CliContext): Promise<RetentionResult> {
  const out = createReporter(ctx);
  const now = options.now ?? new Date();
  const cutoffs: Cutoffs = {
    messages: new Date(now.getTime() - options.olderThanMs).toISOString(),
    audit_events: options.auditOlderThanMs === undefined ? null : new Date(now.getTime() - options.auditOlderThanMs).toISOString(),
  };
  const db = await ctx.database();
  try {
    const database = describeTarget(db);
    out.line(`Database: ${formatTarget(database)}`);
    out.line(
      `Window: messages older than ${formatDuration(options.olderThanMs)} (before ${cutoffs.messages}); audit events ${
        cutoffs.audit_events ? `older than ${formatDuration(options.auditOlderThanMs as number)} (before ${cutoffs.audit_events})` : 'kept'
      }`,
    );
    if (options.dryRun) return await dryRun(db, database, cutoffs, options, out);
    const key = await retentionKey(ctx, options);
    if (!key) out.warn('archive parts are written unencrypted (0600): set RETENTION_ENCRYPT_KEY_FILE or _REF to encrypt them');
    return await archiveAndDelete(db, database, cutoffs, options, now, key, out);
  } finally {
    await db.close();
  }
}

async function dryRun(db: Database, database: DatabaseTarget, cutoffs: Cutoffs, options: RetentionOptions, out: Reporter) {
  const wouldArchive = await out.step('Counting what would be archived', () =>
    countArchivable(db.knex, cutoffs.messages, cutoffs.audit_events),
  );
  const interrupted = options.archiveDir ? await interruptedRuns(options.archiveDir) : [];
  out.json({ database, dryRun: true, cutoffs, wouldArchive, interruptedRuns: interrupted });
  out.line(`Would archive and delete: ${describeCounts(wouldArchive)} (dry run: nothing changed)`);
  for (const dir of interrupted) out.line(`Interrupted run to resume first: ${dir}`);
  return { dryRun: true as const, database, cutoffs, wouldArchive, interruptedRuns: interrupted };
}

async function archiveAndDelete(
  db: Database,
  database: DatabaseTarget,
  cutoffs: Cutoffs,
  options: RetentionOptions,
  now: Date,
  key: Buffer | undefined,
  out: Reporter,
) {
  const runs = await runRetention(
    db,
    {
      archiveDir: options.archiveDir as string,
      messagesCutoff: new Date(cutoffs.messages),
      auditCutoff: cutoffs.audit_events ? new Date(cutoffs.audit_events) : null,
      batchSize: options.batchSize,
      now,
      key,
    },
    { hooks: options.hooks, step: (label, fn) => out.step(label, fn) },
  );
  const archived: RetentionCounts = { messages: 0, conversations: 0, audit_events: 0 };
  for (const r of runs) for (const table of Object.keys(archived) as (keyof RetentionCounts)[]) archived[table] += r.manifest.tables[table].rows;
  out.json({
    database,
    dryRun: false,
    cutoffs,
    archived,
    runs: runs.map((r) => ({ runId: r.runId, dir: r.dir, resumed: r.resumed, deletedOnResume: r.deletedOnResume, tables: r.manifest.tables })),
  });
  for (const r of runs) {
    const counts = {
      messages: r.manifest.tables.messages.rows,
      conversations: r.manifest.tables.conversations.rows,
      audit_events: r.manifest.tables.audit_events.rows,
    };
    const how = r.resumed ? `Resumed interrupted run ${r.runId} (${r.deletedOnResume} archived rows deleted on resume)` : `Run ${r.runId}`;
    out.success(`${how}: archived and deleted ${describeCounts(counts)} → ${r.dir}/manifest.json`);
    if (r.manifest.retained.conversations.length > 0) {
      out.warn(
        `${r.manifest.retained.conversations.length} archived conversation(s) became active again before deletion and were kept (listed in the manifest under retained)`,
      );
    }
  }
  return { dryRun: false as const, database, cutoffs, archived, runs };
}

function describeCounts(c: RetentionCounts): string {
  return `${c.messages} messages, ${c.conversations} conversations, ${c.audit_events} audit events`;
}
