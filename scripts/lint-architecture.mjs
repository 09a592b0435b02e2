#!/usr/bin/env node
// `npm run lint` (architecture): dependency-cruiser with .dependency-cruiser.cjs over the service, the
// CLI, the benches and the scripts, reported one line per violation; exit 1 on any.
//
// dependency-cruiser warns ("missing-tsc-transpiler") that TypeScript 7 has no compiler API for it; we
// parse with swc instead (the config says so), so that notice is not printed. What it warns about —
// TypeScript files silently not parsed — is checked here instead: every .ts source must have been read.
//
// Usage: node scripts/lint-architecture.mjs [--config FILE] [--cwd DIR] [PATH…]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const config = resolve(option('--config', '.dependency-cruiser.cjs'));
const cwd = resolve(option('--cwd', '.'));
const paths = args.length ? args : ['service/src', 'cli/src', 'bench', 'bin', 'scripts'];

const bin = fileURLToPath(new URL('../node_modules/dependency-cruiser/bin/dependency-cruiser.mjs', import.meta.url));
const run = spawnSync(process.execPath, [bin, ...paths, '--config', config, '--output-type', 'json', '--no-cache'], {
  cwd,
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
});
let result;
try {
  result = JSON.parse(run.stdout);
} catch {
  process.stderr.write(`dependency-cruiser failed (exit ${run.status}):\n${run.stderr || run.stdout}\n`);
  process.exit(2);
}

const cruised = new Set(result.modules.map((m) => m.source));
const sources = paths.flatMap(function walk(p) {
  const full = join(cwd, p);
  if (statSync(full).isDirectory()) return readdirSync(full).flatMap((n) => (n === 'node_modules' ? [] : walk(join(p, n))));
  return /\.(ts|mts|cts)$/.test(p) && !p.endsWith('.d.ts') ? [p] : [];
});
const unparsed = sources.filter((s) => !cruised.has(s));
const violations = result.summary.violations.filter((v) => v.rule.severity === 'error');
for (const v of violations) {
  const path = v.cycle ? [v.from, ...v.cycle.map((c) => (typeof c === 'string' ? c : c.name))].join(' → ') : `${v.from} → ${v.to}`;
  process.stdout.write(`✖ ${v.rule.name}: ${path}\n`);
}
if (unparsed.length) process.stdout.write(`✖ not parsed (the architecture rules saw nothing of them): ${unparsed.join(', ')}\n`);
if (violations.length || unparsed.length) {
  process.stdout.write(`architecture: ${violations.length} violation(s) — the rules and why: .dependency-cruiser.cjs\n`);
  process.exit(1);
}
process.stdout.write(`architecture: ✔ no violations (${result.summary.totalCruised} modules, ${result.summary.totalDependenciesCruised} imports)\n`);
