import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface Release {
  /** The tree's root: dist/, bin/, package.json and node_modules (a link to this checkout's). */
  readonly root: string;
  /** Its `bin/rampart.js`, which under NODE_ENV=production runs the tree's dist/. */
  readonly entry: string;
  remove(): void;
}

/**
 * A release tree built from the working tree into a temporary folder — what the image holds — so a
 * test or a bench can start the compiled service without writing this checkout's dist/ (which
 * `bin/secops.js` would then prefer, and which other tests may be reading at that moment).
 */
export function buildRelease(): Release {
  const root = mkdtempSync(join(tmpdir(), 'rampart-release-'));
  execFileSync(process.execPath, ['scripts/build.mjs', '--out', join(root, 'dist')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { root, entry: join(root, 'bin/rampart.js'), remove: () => rmSync(root, { recursive: true, force: true }) };
}
