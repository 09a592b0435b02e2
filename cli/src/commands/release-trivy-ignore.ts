import { readFileSync, writeFileSync } from 'node:fs';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { toTrivyIgnore } from '../lib/supply-chain/trivy-ignore.js';

/** `secops release trivy-ignore`: .secops/audit-ignore.json → Trivy's ignore file, expired entries failing. */
export interface ReleaseTrivyIgnoreOptions {
  ignoreFile: string;
  out: string;
  /** YYYY-MM-DD; default today (UTC). Injected by tests. */
  today?: string;
}

export async function run(options: ReleaseTrivyIgnoreOptions, ctx: CliContext): Promise<{ ids: string[]; out: string }> {
  const out = createReporter(ctx);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(options.ignoreFile, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read ${options.ignoreFile}: ${(err as Error).message}`);
  }
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const result = toTrivyIgnore(parsed, today);
  if (result.problems.length > 0) {
    for (const p of result.problems) out.warn(p);
    throw new CheckFailedError(`${options.ignoreFile}: ${result.problems.length} entry problem(s); no Trivy ignore file written`);
  }
  writeFileSync(options.out, result.yaml);
  const ids = result.entries.map((e) => e.id);
  out.json({ ids, out: options.out });
  out.line(`${options.out}: ${ids.length} accepted advisory id(s)${ids.length ? `: ${ids.join(', ')}` : ''}`);
  return { ids, out: options.out };
}
