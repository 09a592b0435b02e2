import type { CliContext } from '../lib/context.js';
import { describeTarget, formatTarget } from '../lib/database.js';
import { formatDuration } from '../lib/duration.js';
import { CheckFailedError, CliError, UsageError } from '../lib/errors.js';
import { type FailoverDrillReport, runFailoverDrill } from '../lib/failover/drill.js';
import { deleteDrillWrites, httpWriter, loginDrillAccount } from '../lib/failover/http-writer.js';
import { createReporter } from '../lib/output.js';
import { execTool } from '../lib/pitr/exec.js';

/**
 * `secops failover drill`: the local failover drill (test/reliability/failover-drill.test.ts) for a
 * real staging environment. The operator's commands fail the primary and promote the replica; the
 * drill writes through the service meanwhile and then looks every acknowledged write up in the
 * database (docs/failover.md).
 */
export interface FailoverDrillCommandOptions {
  url: URL;
  email: string;
  failCommand: string;
  promoteCommand?: string;
  /** Writes per second in all. */
  rate: number;
  concurrency: number;
  warmupMs: number;
  settleMs: number;
  recoveryTimeoutMs: number;
  commandTimeoutMs: number;
  requestTimeoutMs: number;
  maxLost?: number;
  maxRtoMs?: number;
  keepWrites: boolean;
}

export interface FailoverDrillResult extends FailoverDrillReport {
  url: string;
  runId: string;
  cleanup: { deleted: number; failed: number } | 'kept';
}

export async function run(options: FailoverDrillCommandOptions, ctx: CliContext): Promise<FailoverDrillResult> {
  const out = createReporter(ctx);
  const password = ctx.env.FAILOVER_DRILL_PASSWORD;
  if (!password)
    throw new UsageError(
      'FAILOVER_DRILL_PASSWORD must hold the drill account’s password (it is never taken from the command line)',
    );
  const db = await ctx.database();
  try {
    if (db.kind !== 'postgres')
      throw new UsageError(
        'the drill looks its writes up in PostgreSQL: set DATABASE_URL (or --database-url) to the deployment’s database, every server listed',
      );
    out.line(`Database for the lookup: ${formatTarget(describeTarget(db))}`);
    const token = await out.step(`logging the drill account in at ${options.url.origin}`, () =>
      loginDrillAccount(options.url, { email: options.email, password }, options.requestTimeoutMs),
    );
    const writer = httpWriter(options.url, token, options.requestTimeoutMs);
    const shell = (what: string, command: string) => async () => {
      try {
        await execTool('/bin/sh', ['-c', command], { env: ctx.env, timeoutMs: options.commandTimeoutMs });
      } catch (err) {
        throw new CliError(`${what} failed: ${(err as Error).message}`, { code: 'drill_command_failed', cause: err });
      }
    };
    const report = await out.step('failover drill', () =>
      runFailoverDrill({
        writer,
        actions: {
          fail: shell('--fail-command', options.failCommand),
          ...(options.promoteCommand ? { promote: shell('--promote-command', options.promoteCommand) } : {}),
        },
        present: async (ids) => {
          const held = new Set<string>();
          for (let i = 0; i < ids.length; i += 1000) {
            const rows: { id: string }[] = await db
              .knex('conversations')
              .select('id')
              .whereIn('id', ids.slice(i, i + 1000));
            for (const r of rows) held.add(r.id);
          }
          return held;
        },
        concurrency: options.concurrency,
        pauseMs: Math.round((options.concurrency * 1000) / options.rate),
        warmupMs: options.warmupMs,
        settleMs: options.settleMs,
        recoveryTimeoutMs: options.recoveryTimeoutMs,
        progress: (m) => {
          if (!ctx.json && !ctx.isTTY) ctx.stderr.write(`  ${m}\n`);
        },
      }),
    );
    const cleanup = options.keepWrites
      ? ('kept' as const)
      : await out.step('deleting the drill’s conversations', () =>
          deleteDrillWrites(options.url, token, writer.runId, options.requestTimeoutMs),
        );
    const problems = [...report.problems];
    if (options.maxLost !== undefined && report.writes.lost > options.maxLost)
      problems.push(`${report.writes.lost} acknowledged write(s) lost, more than --max-lost ${options.maxLost}`);
    if (options.maxRtoMs !== undefined && (report.timing.rtoMs === null || report.timing.rtoMs > options.maxRtoMs))
      problems.push(
        `RTO ${report.timing.rtoMs === null ? 'unbounded (no write succeeded)' : formatDuration(report.timing.rtoMs)} exceeds --max-rto ${formatDuration(options.maxRtoMs)}`,
      );
    const result: FailoverDrillResult = {
      ...report,
      ok: problems.length === 0,
      problems,
      url: options.url.origin,
      runId: writer.runId,
      cleanup,
    };
    out.json(result);
    printText(result, out);
    if (!result.ok) throw new CheckFailedError(`failover drill: ${problems.join('; ')}`);
    return result;
  } finally {
    await db.close();
  }
}

function printText(r: FailoverDrillResult, out: ReturnType<typeof createReporter>): void {
  const ms = (v: number | null) => (v === null ? '—' : `${v} ms`);
  const refused = Object.entries(r.writes.refused)
    .map(([status, n]) => `${n} × ${status === '0' ? 'no answer' : status}`)
    .join(', ');
  out.line(`Failover drill ${r.runId} against ${r.url}`);
  out.line(
    `  writes acknowledged      ${r.writes.acknowledged} of ${r.writes.attempted}${refused ? ` (refused: ${refused})` : ''}`,
  );
  out.line(
    `  writes lost              ${r.writes.lost}${r.writes.lost ? ` (${r.writes.lostIds.slice(0, 5).join(', ')}${r.writes.lost > 5 ? ', …' : ''})` : ''}`,
  );
  out.line(`  failing the primary took ${ms(r.timing.failureMs)}`);
  out.line(
    `  promotion done at        ${r.timing.promotionMs === null ? 'automatic (no --promote-command)' : `+${r.timing.promotionMs} ms`}`,
  );
  out.line(`  first write after failure (RTO)    ${ms(r.timing.rtoMs)}`);
  out.line(`  first write after promotion        ${ms(r.timing.promotionToFirstWriteMs)}`);
  if (r.cleanup !== 'kept')
    out.line(`  drill conversations deleted ${r.cleanup.deleted}${r.cleanup.failed ? `, ${r.cleanup.failed} could not be` : ''}`);
  if (r.ok) out.success('failover drill passed');
  else for (const p of r.problems) out.warn(p);
}
