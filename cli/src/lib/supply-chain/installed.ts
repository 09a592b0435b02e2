import { CliError } from '../errors.js';
import { runFile } from './exec.js';

/** One installed production package (deduplicated by name@version; `paths` lists where it sits). */
export interface InstalledPackage {
  name: string;
  version: string;
  /** package.json `license` as declared: an SPDX expression, or a legacy `{ type }` object. */
  license?: unknown;
  /** package.json legacy `licenses` array (`[{ type }]`). */
  licenses?: unknown;
  paths: string[];
  /** `npm` when absent; `Debian:<release>` for a Debian package listed in an image SBOM. */
  ecosystem?: string;
  /** Debian: the source package, which Debian's advisories name (purl qualifier `upstream`). */
  sourceName?: string;
}

interface NpmLsNode {
  version?: string;
  license?: unknown;
  licenses?: unknown;
  path?: string;
  missing?: boolean;
  dependencies?: Record<string, NpmLsNode>;
}

/**
 * The production dependency tree as installed in node_modules: `npm ls --omit=dev --all --json --long`
 * (npm's own reading of the lockfile flags, so a package that is both dev and prod counts as prod).
 * Optional dependencies not installed on this platform appear without a version and are skipped.
 */
export async function readProductionTree(cwd: string): Promise<InstalledPackage[]> {
  const result = await runFile('npm', ['ls', '--omit=dev', '--all', '--json', '--long'], { cwd, timeoutMs: 60_000 });
  if (result.spawnError) throw new CliError(`cannot run npm: ${result.spawnError.message}`);
  let tree: NpmLsNode;
  try {
    tree = JSON.parse(result.stdout) as NpmLsNode;
  } catch {
    // npm ls exits non-zero for an invalid tree but still prints JSON; no JSON at all is fatal.
    throw new CliError(`npm ls did not print a dependency tree: ${result.stderr.trim().split('\n')[0] ?? ''}`);
  }
  return flattenTree(tree);
}

/** Flattens an `npm ls --json --long` document; exported for tests. */
export function flattenTree(root: NpmLsNode): InstalledPackage[] {
  const seen = new Map<string, InstalledPackage>();
  const walk = (node: NpmLsNode) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (!child.version || child.missing) continue;
      const key = `${name}@${child.version}`;
      const known = seen.get(key);
      if (known) {
        if (child.path && !known.paths.includes(child.path)) known.paths.push(child.path);
        known.license ??= child.license;
        known.licenses ??= child.licenses;
      } else {
        seen.set(key, {
          name,
          version: child.version,
          license: child.license,
          licenses: child.licenses,
          paths: child.path ? [child.path] : [],
        });
      }
      // npm prints a deduped package once in full and elsewhere as a stub without children, and the
      // stub may come first: every occurrence is walked (the document is a finite tree, no cycles).
      walk(child);
    }
  };
  walk(root);
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}
