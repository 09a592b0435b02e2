import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { defaultHashConcurrency } from '../../../service/src/public/config.js';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, } from '../lib/errors.js';
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
} from '../lib/supply-chain/argon2-calibration.js';
import { ARGON2_BENCH_DEFAULTS } from '../lib/supply-chain/argon2-defaults.js';
import { svgChart, terminalChart } from '../lib/supply-chain/argon2-chart.js';
import { table } from '../lib/table.js';

/** `secops argon2 bench`: calibrate Argon2id for this machine. */
export interface Argon2BenchOptions {
  /** p95 latency budget of one hash under load (default 250). */
  budgetMs?: number;
  /** Memory for the concurrent hashes (default 512 MiB). */
  memoryBudgetKiB?: number;
  /** Hashes at once (default: ARGON2_MAX_CONCURRENCY, else the service's default). */
  concurrency?: number;
  grid?: GridName;
  /** Concurrent rounds per grid point (default: the grid's). */
  rounds?: number;
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

export async function run(options: Argon2BenchOptions, ctx: CliContext): Promise<Argon2BenchResult> {
  const out = createReporter(ctx);
  const gridName = options.grid ?? 'fast';
  const grid = GRIDS[gridName];
  const budgetMs = options.budgetMs ?? ARGON2_BENCH_DEFAULTS.budgetMs;
  const memoryBudgetKiB = options.memoryBudgetKiB ?? ARGON2_BENCH_DEFAULTS.memoryBudgetKiB;
  // What the service runs at: ARGON2_MAX_CONCURRENCY, else its default (CPU count - 1), read as the
  // service reads them (settings.ts).
  const settings = (await ctx.config()).read(['ARGON2_MAX_CONCURRENCY', 'UV_THREADPOOL_SIZE']);
  const concurrency = options.concurrency ?? settings.ARGON2_MAX_CONCURRENCY ?? defaultHashConcurrency();
  const rounds = options.rounds ?? grid.rounds;
  const points = options.points ?? buildGrid(grid);

  const poolSize = settings.UV_THREADPOOL_SIZE ?? 4;
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
