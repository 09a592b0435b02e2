/**
 * npm run bench:cli — how long `secops` takes to start (issue 24): `secops --help` against an empty
 * Node process (`node -e 0`) on the same machine in the same run. Target: the median of
 * `node bin/secops.js --help` ≤ 1.5× the median of `node -e 0`.
 *
 * Method. The bench first builds dist/ (`node scripts/build.mjs`), so that bin/secops.js runs the
 * compiled bundle as an installed checkout does (with a stale or missing build it would run the
 * sources through tsx, and say so on stderr: a run that prints anything on stderr fails the bench).
 * Each case is a fresh `node …` process started with spawnSync from this process, timed from spawn
 * to exit (wall time, output to a pipe). The cases run in alternating order, BENCH_RUNS rounds
 * (default 20) after BENCH_WARMUP rounds (default 2) that are not counted: the first runs after a
 * build fill the OS file cache and secops's compile cache. Other work on the machine falls on every
 * case alike; the spread (p25–p75, min) is printed and written so a noisy run shows as one.
 *
 * Cases: `node -e 0`; `node bin/secops.js --help`; `node bin/secops.js keys --help` (a group: the
 * same bundle, a larger help). secops has no `--version`. Writes bench/results/cli.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { envInt } from './lib/env.js';
import { fmt, table } from './lib/stats.js';

const RUNS = envInt('BENCH_RUNS', 20);
const WARMUP = envInt('BENCH_WARMUP', 2);
const TARGET = 1.5;

interface Case {
  name: string;
  args: string[];
  /** What a correct run prints on stdout. */
  expect?: RegExp;
}

const CASES: Case[] = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'secops --help', args: ['bin/secops.js', '--help'], expect: /^Usage: secops \[options\] \[command\]/ },
  {
    name: 'secops keys --help',
    args: ['bin/secops.js', 'keys', '--help'],
    expect: /^Usage: secops keys \[options\] \[command\]/,
  },
];

function runOnce(c: Case): number {
  const start = performance.now();
  const child = spawnSync(process.execPath, c.args, { encoding: 'utf8', env: process.env });
  const ms = performance.now() - start;
  if (child.status !== 0 || child.stderr !== '' || (c.expect && !c.expect.test(child.stdout))) {
    throw new Error(
      `${c.name}: exit ${child.status}, stderr: ${child.stderr.trim() || '(empty)'}, stdout: ${child.stdout.slice(0, 200)}`,
    );
  }
  return ms;
}

interface Spread {
  runs: number;
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
}

function spread(samples: number[]): Spread {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => {
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    return (s[lo] as number) + ((s[Math.ceil(i)] as number) - (s[lo] as number)) * (i - lo);
  };
  return { runs: s.length, median: at(0.5), p25: at(0.25), p75: at(0.75), min: s[0] as number, max: s.at(-1) as number };
}

process.stdout.write('building dist/ (node scripts/build.mjs) …\n');
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { encoding: 'utf8' });
if (build.status !== 0) throw new Error(`the build failed:\n${build.stdout}${build.stderr}`);

const loadBefore = loadavg()[0] as number;
const samples = CASES.map(() => [] as number[]);
for (let round = 0; round < WARMUP + RUNS; round++) {
  // Alternating order: A B C, C B A, … so that a slow stretch of the machine does not land on one case.
  const order = round % 2 === 0 ? CASES.map((_, i) => i) : CASES.map((_, i) => CASES.length - 1 - i);
  for (const i of order) {
    const ms = runOnce(CASES[i] as Case);
    if (round >= WARMUP) samples[i]?.push(ms);
  }
}
const loadAfter = loadavg()[0] as number;

const results = CASES.map((c, i) => ({ name: c.name, command: `node ${c.args.join(' ')}`, ...spread(samples[i] as number[]) }));
const baseline = results[0] as (typeof results)[number];
const rows = results.map((r) => ({ ...r, ratio: r.median / baseline.median }));
const help = rows[1] as (typeof rows)[number];
const met = help.ratio <= TARGET;

process.stdout.write(
  [
    '',
    `secops startup: ${RUNS} runs per case (after ${WARMUP} warm-up rounds), alternating, wall time from spawn to exit; Node ${process.version}, ${availableParallelism()} CPUs, load average ${fmt(loadBefore, 2)} → ${fmt(loadAfter, 2)}`,
    '',
    table(
      ['case', 'median ms', 'p25–p75 ms', 'min ms', 'max ms', '× node -e 0'],
      rows.map((r) => [r.command, fmt(r.median), `${fmt(r.p25)}–${fmt(r.p75)}`, fmt(r.min), fmt(r.max), `${fmt(r.ratio, 2)}×`]),
    ),
    '',
    `${met ? 'met   ' : 'MISSED'}  secops --help startup: median ${fmt(help.median)} ms ÷ node -e 0 ${fmt(baseline.median)} ms = ${fmt(help.ratio, 2)}× (target ≤ ${TARGET}×)`,
    '',
  ].join('\n'),
);

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/cli.json',
  `${JSON.stringify({ node: process.version, cpus: availableParallelism(), runs: RUNS, warmup: WARMUP, loadavg: { before: loadBefore, after: loadAfter }, cases: rows, target: TARGET, ratio: help.ratio, met }, null, 2)}\n`,
);
