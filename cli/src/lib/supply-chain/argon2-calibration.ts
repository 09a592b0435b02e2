import { hash as argon2Hash } from '@node-rs/argon2';
import { ARGON2_OWASP_MINIMUM } from '../../../../service/src/public/config.js';
import type { Argon2Policy } from '../../../../service/src/public/auth.js';

/**
 * Argon2id calibration: measure a grid of costs at the concurrency the service will run them at,
 * and pick the strongest that fits a latency and a memory budget. Never below the OWASP minimum
 * (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id).
 */
export type GridPoint = Argon2Policy;
export const OWASP_MINIMUM: GridPoint = Object.freeze({ ...ARGON2_OWASP_MINIMUM });

export const GRIDS = Object.freeze({
  /** 24 points; 10–30 s on 2 cores at concurrency 2 (the budgets skip the heavy end). */
  fast: { memoryKiB: [19456, 32768, 47104, 65536], timeCost: [2, 3, 4], parallelism: [1, 2], rounds: 6, singleShots: 2 },
  /** Up to 84 points with more samples; minutes, fewer when the budgets prune the heavy end. */
  full: {
    memoryKiB: [19456, 32768, 47104, 65536, 98304, 131072, 262144],
    timeCost: [2, 3, 4, 5],
    parallelism: [1, 2, 4],
    rounds: 8,
    singleShots: 5,
  },
});
export type GridName = keyof typeof GRIDS; // the names are listed once more, import-free, in argon2-defaults.ts GRID_NAMES

export function isAtLeastMinimum(p: GridPoint): boolean {
  return (
    p.memoryKiB >= OWASP_MINIMUM.memoryKiB && p.timeCost >= OWASP_MINIMUM.timeCost && p.parallelism >= OWASP_MINIMUM.parallelism
  );
}

/** Every combination, weakest first (so a point over budget can rule out the ones it dominates). */
export function buildGrid(axes: { memoryKiB: number[]; timeCost: number[]; parallelism: number[] }): GridPoint[] {
  const points: GridPoint[] = [];
  for (const parallelism of axes.parallelism)
    for (const timeCost of axes.timeCost)
      for (const memoryKiB of axes.memoryKiB) points.push({ memoryKiB, timeCost, parallelism });
  return points.sort((a, b) => a.parallelism - b.parallelism || a.timeCost - b.timeCost || a.memoryKiB - b.memoryKiB);
}

export interface PointResult extends GridPoint {
  status: 'measured' | 'skipped: memory budget' | 'skipped: a cheaper point is over budget';
  /** One hash alone (median of the single-shot runs). */
  singleP50Ms?: number;
  /** Each hash's latency when `concurrency` run at once, over every round. */
  concurrentP50Ms?: number;
  concurrentP95Ms?: number;
  /** Peak RSS during the concurrent phase, and its growth over the RSS just before it. */
  peakRssMiB?: number;
  rssGrowthMiB?: number;
  /** m × concurrency: what the hashes need at once, in MiB. */
  requiredMiB: number;
  fitsLatency: boolean;
  fitsMemory: boolean;
}

export interface CalibrationOptions {
  points: readonly GridPoint[];
  concurrency: number;
  rounds: number;
  singleShots: number;
  budgetMs: number;
  memoryBudgetKiB: number;
  /** Replaces the real argon2 hash (tests). */
  hash?: (point: GridPoint) => Promise<unknown>;
  onPoint?: (result: PointResult, index: number, total: number) => void;
  /** RSS sampling interval. */
  sampleEveryMs?: number;
}

export interface Calibration {
  results: PointResult[];
  /** Points dropped because they are below the OWASP minimum. */
  belowMinimum: GridPoint[];
  recommendation: PointResult | null;
}

/**
 * The service's own library (components/auth/hash-worker.mjs): @node-rs/argon2. Its async hash runs on
 * libuv's thread pool, `concurrency` at once; the service runs them on its hashing threads, one per CPU,
 * which costs the same per hash.
 */
const realHash = (p: GridPoint) =>
  argon2Hash('correct horse battery staple', {
    algorithm: 2, // Argon2id (@node-rs/argon2's Algorithm is a const enum, which isolatedModules cannot import)
    memoryCost: p.memoryKiB,
    timeCost: p.timeCost,
    parallelism: p.parallelism,
    outputLen: 32,
  });

export async function calibrate(options: CalibrationOptions): Promise<Calibration> {
  const hash = options.hash ?? realHash;
  const belowMinimum = options.points.filter((p) => !isAtLeastMinimum(p));
  const points = weakestFirst(options.points.filter(isAtLeastMinimum));
  const results: PointResult[] = [];
  for (const [index, point] of points.entries()) {
    const requiredMiB = (point.memoryKiB * options.concurrency) / 1024;
    const base = { ...point, requiredMiB, fitsLatency: false, fitsMemory: false };
    let result: PointResult;
    if (point.memoryKiB * options.concurrency > options.memoryBudgetKiB) result = { ...base, status: 'skipped: memory budget' };
    // Pruned on the median, not p95: one noisy sample must not rule out every heavier setting.
    else if (results.some((r) => r.status === 'measured' && (r.concurrentP50Ms ?? 0) > options.budgetMs && dominates(point, r)))
      result = { ...base, status: 'skipped: a cheaper point is over budget' };
    else result = await measure(point, base, options, hash);
    results.push(result);
    options.onPoint?.(result, index, points.length);
  }
  return { results, belowMinimum, recommendation: recommend(results) };
}

/** Same parallelism, at least as much memory and time: at least as slow. */
function dominates(point: GridPoint, cheaper: GridPoint): boolean {
  return point.parallelism === cheaper.parallelism && point.memoryKiB >= cheaper.memoryKiB && point.timeCost >= cheaper.timeCost;
}

function weakestFirst(points: readonly GridPoint[]): GridPoint[] {
  return [...points].sort((a, b) => a.parallelism - b.parallelism || a.timeCost - b.timeCost || a.memoryKiB - b.memoryKiB);
}

async function measure(
  point: GridPoint,
  base: Omit<PointResult, 'status'>,
  options: CalibrationOptions,
  hash: (p: GridPoint) => Promise<unknown>,
): Promise<PointResult> {
  await hash(point); // warm-up: first-touch page faults are not the steady state
  const single: number[] = [];
  for (let i = 0; i < options.singleShots; i++) single.push(await timed(() => hash(point)));

  const mib = (bytes: number) => bytes / 1024 / 1024;
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, options.sampleEveryMs ?? 5);
  const concurrent: number[] = [];
  try {
    for (let round = 0; round < options.rounds; round++) {
      const latencies = await Promise.all(Array.from({ length: options.concurrency }, () => timed(() => hash(point))));
      concurrent.push(...latencies);
      peak = Math.max(peak, process.memoryUsage.rss());
    }
  } finally {
    clearInterval(sampler);
  }
  const concurrentP95Ms = percentile(concurrent, 95);
  const rssGrowthMiB = mib(peak - baseline);
  return {
    ...base,
    status: 'measured',
    singleP50Ms: percentile(single, 50),
    concurrentP50Ms: percentile(concurrent, 50),
    concurrentP95Ms,
    peakRssMiB: mib(peak),
    rssGrowthMiB,
    fitsLatency: concurrentP95Ms <= options.budgetMs,
    fitsMemory: base.requiredMiB * 1024 <= options.memoryBudgetKiB && rssGrowthMiB * 1024 <= options.memoryBudgetKiB,
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The strongest measured point within both budgets: highest m·t (Argon2's memory-hardness × passes),
 * then more memory (harder for GPUs), then the lower p95. Never a point below the minimum.
 */
export function recommend(results: readonly PointResult[]): PointResult | null {
  const fitting = results.filter((r) => r.status === 'measured' && r.fitsLatency && r.fitsMemory && isAtLeastMinimum(r));
  fitting.sort(
    (a, b) =>
      b.memoryKiB * b.timeCost - a.memoryKiB * a.timeCost ||
      b.memoryKiB - a.memoryKiB ||
      (a.concurrentP95Ms ?? 0) - (b.concurrentP95Ms ?? 0),
  );
  return fitting[0] ?? null;
}

/** "512MiB", "1GiB", "65536KiB", "512" (MiB) → KiB. */
export function envFor(p: GridPoint): string {
  return `ARGON2_MEMORY_KIB=${p.memoryKiB} ARGON2_TIME_COST=${p.timeCost} ARGON2_PARALLELISM=${p.parallelism}`;
}
