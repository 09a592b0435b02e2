import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFile } from './exec.js';

export interface SourceIdentity {
  version: string;
  gitSha: string;
  /** Uncommitted changes in the work tree when the artefact was made. */
  gitDirty: boolean;
}

/**
 * Version and commit the way scripts/build.mjs records them for dist/build-info.json: GIT_SHA wins
 * (CI may build from an exported tree), else `git rev-parse HEAD`, else "unknown".
 */
export async function sourceIdentity(cwd: string, env: Readonly<Record<string, string | undefined>>): Promise<SourceIdentity> {
  const { version } = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { version: string };
  let gitSha = env.GIT_SHA?.trim() || '';
  let gitDirty = false;
  if (!gitSha) {
    const head = await runFile('git', ['rev-parse', 'HEAD'], { cwd, timeoutMs: 10_000 });
    gitSha = head.code === 0 ? head.stdout.trim() : 'unknown';
  }
  const status = await runFile('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, timeoutMs: 10_000 });
  if (status.code === 0) gitDirty = status.stdout.trim() !== '';
  return { version, gitSha, gitDirty };
}
