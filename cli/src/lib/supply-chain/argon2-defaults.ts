/**
 * What `secops argon2 bench` assumes unless told otherwise, and how its memory option is read. No
 * imports: the command's definition reads it without loading argon2.
 */
export const ARGON2_BENCH_DEFAULTS = Object.freeze({ budgetMs: 250, memoryBudget: '512MiB', memoryBudgetKiB: 512 * 1024, grid: 'fast' });

/** The grids of argon2-calibration.ts GRIDS, by name. */
export const GRID_NAMES = ['fast', 'full'] as const;

/** `512MiB`, `1GiB`, `65536KiB`, `256` (MiB) → KiB; undefined when not a positive size. */
export function parseMemorySize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|kib|m|mib|g|gib)?\s*$/i.exec(text);
  if (!m) return undefined;
  const factor = { k: 1, kib: 1, m: 1024, mib: 1024, g: 1024 * 1024, gib: 1024 * 1024 }[(m[2] ?? 'mib').toLowerCase() as 'k'];
  const kib = Math.floor(Number(m[1]) * factor);
  return kib > 0 ? kib : undefined;
}
