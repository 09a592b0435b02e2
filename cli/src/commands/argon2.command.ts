import { Option } from 'commander';
import { defineGroup, examples } from '../lib/command-kit.js';
import { UsageError } from '../lib/errors.js';
import { oneOf, optionalWholeNumber, wholeNumber } from '../lib/option-values.js';
import { ARGON2_BENCH_DEFAULTS, GRID_NAMES, parseMemorySize } from '../lib/supply-chain/argon2-defaults.js';
import type { Argon2BenchOptions } from './argon2.js';

/** `secops argon2 bench` (run: ./argon2.ts). */

interface BenchFlags {
  budgetMs: string;
  memoryBudget: string;
  concurrency?: string;
  grid: string;
  rounds?: string;
  svg?: string;
}

export function benchOptions(flags: BenchFlags): Argon2BenchOptions {
  const memoryBudgetKiB = parseMemorySize(flags.memoryBudget);
  if (memoryBudgetKiB === undefined) throw new UsageError(`--memory-budget must look like 512MiB, 1GiB or 65536KiB (got ${flags.memoryBudget})`);
  return {
    budgetMs: wholeNumber(flags.budgetMs, '--budget-ms', 1, 60_000),
    memoryBudgetKiB,
    concurrency: optionalWholeNumber(flags.concurrency, '--concurrency', 1, 1024),
    grid: oneOf(flags.grid, '--grid', GRID_NAMES),
    rounds: optionalWholeNumber(flags.rounds, '--rounds', 1, 1000),
    svg: flags.svg,
  };
}

export const argon2Group = defineGroup('argon2', (program, action) => {
  program
    .command('argon2')
    .description('Argon2id parameters for this machine')
    .addHelpText('after', examples('secops argon2 bench', 'secops argon2 bench --budget-ms 400 --memory-budget 1GiB --svg build/argon2.svg'))
    .command('bench')
    .description('measure a grid of Argon2id costs at the target concurrency and recommend the strongest within budget')
    .option('--budget-ms <ms>', 'p95 latency budget for one hash under load', String(ARGON2_BENCH_DEFAULTS.budgetMs))
    .option('--memory-budget <size>', 'memory for concurrent hashes (KiB, MiB, GiB)', ARGON2_BENCH_DEFAULTS.memoryBudget)
    .option('--concurrency <n>', 'hashes running at once (default: ARGON2_MAX_CONCURRENCY, else the service’s default, CPU count − 1)')
    .addOption(
      new Option('--grid <grid>', 'fast: about 20 s on 2 cores; full: a wider grid and more rounds').choices(GRID_NAMES).default(ARGON2_BENCH_DEFAULTS.grid),
    )
    .option('--rounds <n>', 'concurrent rounds per grid point (default: 6 fast, 8 full)')
    .option('--svg <file>', 'also write a latency-vs-memory chart as SVG')
    .addHelpText('after', examples('secops argon2 bench', 'secops argon2 bench --concurrency 8 --budget-ms 500', 'secops --json argon2 bench | jq .recommendation'))
    .action(action<Argon2BenchOptions, BenchFlags>(() => import('./argon2.js'), ({ flags }) => benchOptions(flags)));
});
