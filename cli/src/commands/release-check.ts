import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { runFile } from '../lib/supply-chain/exec.js';
import {
  checkChangelog,
  checkCleanTree,
  checkImageDigest,
  checkTag,
  imagesOf,
  overlayFiles,
  type ReleaseCheck,
  versionOfTag,
} from '../lib/supply-chain/release-gate.js';

/** `secops release check`: is this tree fit to become (or did it become) the tagged release? (docs/release.md) */
export interface ReleaseCheckOptions {
  /** vX.Y.Z; default: GITHUB_REF_NAME. */
  tag?: string;
  imageDigest?: string;
  expectBuilt?: boolean;
  /** Repository root; default: the working directory. */
  cwd?: string;
}

export interface ReleaseCheckReport {
  ok: boolean;
  tag: string | null;
  version: string;
  checks: ReleaseCheck[];
}

function readOrNull(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

async function porcelain(cwd: string): Promise<string> {
  const r = await runFile('git', ['status', '--porcelain'], { cwd, timeoutMs: 30_000 });
  if (r.spawnError) throw new CliError(`cannot run git: ${r.spawnError.message}`);
  if (r.code !== 0) throw new CliError(`git status failed in ${cwd}: ${r.stderr.trim()}`);
  return r.stdout;
}

function packageVersion(cwd: string): string {
  const text = readOrNull(join(cwd, 'package.json'));
  if (text === null) throw new CliError(`no package.json in ${cwd}`);
  return String((JSON.parse(text) as { version?: unknown }).version ?? '');
}

export async function run(options: ReleaseCheckOptions, ctx: CliContext): Promise<ReleaseCheckReport> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const tag = options.tag ?? ctx.env.GITHUB_REF_NAME ?? undefined;
  const version = packageVersion(cwd);
  const images = overlayFiles(cwd).flatMap((file) => imagesOf(file, readFileSync(join(cwd, file), 'utf8')));
  const checks: ReleaseCheck[] = [
    checkTag(tag, version),
    checkChangelog(readOrNull(join(cwd, 'CHANGELOG.md')), versionOfTag(tag ?? '') ?? version),
    checkCleanTree(await porcelain(cwd)),
  ];
  const digest = checkImageDigest(options.imageDigest, options.expectBuilt === true, images);
  if (digest) checks.push(digest);

  const report: ReleaseCheckReport = { ok: checks.every((c) => c.ok), tag: tag ?? null, version, checks };
  out.json(report);
  for (const c of checks) out.line(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0)
    throw new CheckFailedError(`release check: ${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`);
  out.success(`release ${tag} is ready`);
  return report;
}
