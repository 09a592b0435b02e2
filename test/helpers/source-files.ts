import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every JavaScript and TypeScript file under `dir` (.js, .cjs, .mjs, .ts, .cts, .mts), recursively,
 * leaving out node_modules and dist: what the source scans of test/architecture and test/docs read.
 */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(?:[cm]?[jt]s)$/.test(name) ? [path] : [];
  });
}
