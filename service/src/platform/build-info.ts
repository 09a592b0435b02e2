import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  git_sha: string;
  built_at: string;
  /** The Node.js running this process (`process.version`, e.g. v26.12.1). */
  node_version: string;
}

/** The repository root from sources, or dist/ when compiled (where build-info.json sits). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * What /version, build_info and the first log line report. Sources, in order: GIT_SHA from the
 * environment, the build-info.json that `npm run build` writes next to the compiled code, then
 * `git rev-parse HEAD` when running from a checkout, else `unknown`. `built_at` is the build time,
 * or the process start when running from sources.
 */
export function readBuildInfo(options: { gitSha?: string; root?: string; now?: Date } = {}): BuildInfo {
  const root = options.root ?? ROOT;
  let built: Partial<Omit<BuildInfo, 'node_version'>> = {};
  for (const candidate of [resolve(root, 'dist/build-info.json'), resolve(root, 'build-info.json')]) {
    try {
      built = JSON.parse(readFileSync(candidate, 'utf8')) as Partial<BuildInfo>;
      break;
    } catch {
      // not built: fall through to git
    }
  }
  const sha = options.gitSha ?? built.git_sha ?? gitHead(root) ?? 'unknown';
  return {
    version: built.version ?? packageVersion(root),
    git_sha: sha,
    built_at: built.built_at ?? (options.now ?? new Date()).toISOString(),
    node_version: process.version,
  };
}

function gitHead(cwd: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 });
    const sha = out.toString().trim();
    return /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

function packageVersion(root: string): string {
  try {
    return (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
