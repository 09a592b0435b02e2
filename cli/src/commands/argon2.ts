import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { defaultHashConcurrency, readSettings } from '../../../service/src/public/config.js';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, ConfigurationError, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import {
  buildGrid,
  type Calibration,
  calibrate,
  envFor,
  GRIDS,
  type GridName,
  type GridPoint,
  OWASP_MINIMUM,
  parseMemorySize,
} from '../lib/supply-chain/argon2-calibration.js';
import { svgChart, terminalChart } from '../lib/supply-chain/argon2-chart.js';
import { table } from './audit.js';

/** `secops argon2 bench`: calibrate Argon2id for this machine. */
export interface Argon2BenchOptions {
  budgetMs?: string | number;
  memoryBudget?: string;
  concurrency?: string | number;
  grid?: GridName;
  rounds?: string | number;
  svg?: string;
  /** Replaces the grid (tests); points below the OWASP minimum are dropped. */
  points?: GridPoint[];
  singleShots?: number;
  hash?: (point: GridPoint) => Promise<unknown>;
  cwd?: string;
}

export interface Argon2BenchResult extends Calibration {
  budgetMs: number;
  memoryBudgetKiB: number;
  concurrency: number;
  grid: GridName | 'custom';
  minimum: GridPoint;
  env: string | null;
  elapsedMs: number;
  /** 1-minute load average when the run started: high means pessimistic latencies. */
  loadAverage: number;
}

function positiveInt(value: string | number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer (got ${value})`);
  return n;
}

export async function run(options: Argon2BenchOptions, ctx: CliContext): Promise<Argon2BenchResult> {
  const out = createReporter(ctx);
  const gridName = options.grid ?? 'fast';
  if (!(gridName in GRIDS)) throw new UsageError(`--grid must be fast or full (got ${gridName})`);
  const grid = GRIDS[gridName];
  const budgetMs = positiveInt(options.budgetMs, '--budget-ms', 250);
  const memoryBudgetKiB = parseMemorySize(options.memoryBudget ?? '512MiB');
  if (memoryBudgetKiB === undefined)
    throw new UsageError(`--memory-budget must look like 512MiB, 1GiB or 65536KiB (got ${options.memoryBudget})`);
  // What the service runs at: ARGON2_MAX_CONCURRENCY, else its default (CPU count - 1), read as the
  // service reads them (settings.ts).
  const read = readSettings(ctx.env, ['ARGON2_MAX_CONCURRENCY', 'UV_THREADPOOL_SIZE']);
  if ('problems' in read) throw new ConfigurationError(read.problems);
  const concurrency =
    options.concurrency === undefined
      ? (read.values.ARGON2_MAX_CONCURRENCY ?? defaultHashConcurrency())
      : positiveInt(options.concurrency, '--concurrency', defaultHashConcurrency());
  const rounds = positiveInt(options.rounds, '--rounds', grid.rounds);
  const points = options.points ?? buildGrid(grid);

  const poolSize = read.values.UV_THREADPOOL_SIZE ?? 4;
  if (concurrency > poolSize)
    out.warn(
      `concurrency ${concurrency} exceeds libuv's thread pool (${poolSize}): hashes queue and latencies include that wait; the service sizes its pool CPU count + 4 (bin/boot.js) — rerun with UV_THREADPOOL_SIZE=${concurrency + 4} to measure the hashes alone`,
    );

  const [load] = loadavg();
  if (load !== undefined && load > availableParallelism() * 0.5)
    out.warn(
      `load average ${load.toFixed(1)} on ${availableParallelism()} CPUs: other work competes with the hashes, so these latencies are pessimistic; rerun on an idle machine of the production size`,
    );

  const started = performance.now();
  const calibration = await out.step(
    `Measuring ${points.length} Argon2id settings at concurrency ${concurrency}, ${rounds} round(s) each`,
    () =>
      calibrate({
        points,
        concurrency,
        rounds,
        singleShots: options.singleShots ?? grid.singleShots,
        budgetMs,
        memoryBudgetKiB,
        ...(options.hash ? { hash: options.hash } : {}),
      }),
  );
  const rec = calibration.recommendation;
  const result: Argon2BenchResult = {
    ...calibration,
    budgetMs,
    memoryBudgetKiB,
    concurrency,
    grid: options.points ? 'custom' : gridName,
    minimum: OWASP_MINIMUM,
    env: rec ? envFor(rec) : null,
    elapsedMs: Math.round(performance.now() - started),
    loadAverage: load ?? 0,
  };

  if (options.svg)
    writeFileSync(resolve(options.cwd ?? process.cwd(), options.svg), svgChart(calibration.results, budgetMs, concurrency));
  out.json(result);
  printHuman(result, out);
  if (!rec) {
    throw new CheckFailedError(
      'no setting at or above the OWASP minimum fits the budgets: raise --budget-ms or --memory-budget, or lower the concurrency (ARGON2_MAX_CONCURRENCY) — never go below the minimum',
    );
  }
  return result;
}

const ms = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));

function printHuman(r: Argon2BenchResult, out: ReturnType<typeof createReporter>): void {
  const rec = r.recommendation;
  out.line(
    `Budgets: p95 ≤ ${r.budgetMs} ms per hash with ${r.concurrency} at once; memory ≤ ${Math.round(r.memoryBudgetKiB / 1024)} MiB. Minimum: m=${OWASP_MINIMUM.memoryKiB} t=${OWASP_MINIMUM.timeCost} p=${OWASP_MINIMUM.parallelism} (OWASP).`,
  );
  out.line('');
  out.line(
    table(
      ['m KiB', 't', 'p', 'single p50', 'conc p50', 'conc p95', 'm×conc MiB', 'RSS peak/+Δ MiB', 'verdict'],
      r.results.map((p) => [
        String(p.memoryKiB),
        String(p.timeCost),
        String(p.parallelism),
        ms(p.singleP50Ms),
        ms(p.concurrentP50Ms),
        ms(p.concurrentP95Ms),
        String(Math.round(p.requiredMiB)),
        p.peakRssMiB === undefined ? '-' : `${Math.round(p.peakRssMiB)}/+${Math.round(p.rssGrowthMiB ?? 0)}`,
        p === rec
          ? '★ recommended'
          : p.status !== 'measured'
            ? p.status
            : p.fitsLatency && p.fitsMemory
              ? 'fits'
              : p.fitsLatency
                ? 'over memory'
                : 'over latency',
      ]),
    ),
  );
  out.line('');
  out.line(terminalChart(r.results, r.budgetMs, r.concurrency));
  out.line('');
  if (r.belowMinimum.length > 0) out.warn(`${r.belowMinimum.length} grid point(s) below the OWASP minimum were not measured`);
  if (rec) {
    out.success(
      `Recommended: m=${rec.memoryKiB} KiB, t=${rec.timeCost}, p=${rec.parallelism} — p95 ${ms(rec.concurrentP95Ms)} ms at concurrency ${r.concurrency} (measured in ${(r.elapsedMs / 1000).toFixed(1)} s)`,
    );
    out.line(`  ${r.env} ARGON2_MAX_CONCURRENCY=${r.concurrency}`);
  }
}
