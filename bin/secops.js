#!/usr/bin/env node
import './require-node.js';
// The `secops` entry point. It runs the compiled bundle that `npm run build` writes to dist/cli/bundle/
// (`npm ci` and `npm install` build it through the "prepare" script), unless that bundle is missing or
// older than the sources: then it says so on stderr and runs the TypeScript sources through tsx, so
// that a stale build never silently runs old code. In the image there are no sources: the bundle runs.
//
// Plain JavaScript, and Node's modules come from process.getBuiltinModule(): an ESM `import` of a
// builtin first builds an ES module facade over it, which costs `secops --help` measurable time
// (docs/performance.md, "CLI startup").
const fs = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');
const { fileURLToPath } = process.getBuiltinModule('node:url');

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BUNDLE = join(ROOT, 'dist/cli/bundle/secops.js');
const BUILD_INFO = join(ROOT, 'dist/cli/bundle/build-info.json');

/**
 * Why the bundle cannot run, or undefined when it can. The build records when it started reading the
 * CLI's sources (scripts/build-cli.mjs); a file or folder under them modified since (an edit, an added,
 * removed or renamed file, a checkout) makes the bundle stale. Without sources (the image) there is
 * nothing to compare.
 */
function bundleProblem() {
  if (!fs.existsSync(BUNDLE)) return 'dist/ holds no build of the CLI';
  let info;
  try {
    info = JSON.parse(fs.readFileSync(BUILD_INFO, 'utf8'));
  } catch {
    return 'dist/cli/bundle/build-info.json is missing or unreadable';
  }
  const built = info.sources_read_at_ms;
  if (!Array.isArray(info.sources) || typeof built !== 'number')
    return 'dist/cli/bundle/build-info.json is not one this bin reads';
  try {
    for (const source of info.sources) {
      const root = join(ROOT, source);
      const top = fs.statSync(root, { throwIfNoEntry: false });
      if (top === undefined) continue;
      if (top.mtimeMs > built) return `the build in dist/ is older than the sources (${source}/ changed since)`;
      // Plain concatenation: the entries are relative paths already, and path.join's normalisation of
      // a few hundred of them is a measurable share of `secops --help` (docs/performance.md).
      const prefix = `${root}/`;
      for (const entry of fs.readdirSync(root, { recursive: true })) {
        if (fs.statSync(prefix + entry).mtimeMs > built)
          return `the build in dist/ is older than the sources (${source}/${entry} changed since)`;
      }
    }
  } catch (err) {
    return `could not compare the build in dist/ with the sources (${err.message})`;
  }
  return undefined;
}

/**
 * V8's compiled code for the bundle, kept between runs (node:module enableCompileCache) in a folder of
 * the OS temporary directory that belongs to this user and nobody else may write: cached code is
 * code, so a folder another user could have created or can write into is not used. Never fails the
 * command: anything unexpected leaves the cache off.
 */
function enableCompileCache() {
  try {
    const os = process.getBuiltinModule('node:os');
    const uid = process.getuid?.();
    if (uid === undefined) return;
    const dir = `${os.tmpdir()}/rampart-secops-compile-cache-${uid}`;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0) return;
    process.getBuiltinModule('node:module').enableCompileCache(dir);
  } catch {
    // Read-only or missing temporary directory: run without the cache.
  }
}

let entry;
const problem = bundleProblem();
if (problem === undefined) {
  enableCompileCache();
  entry = new URL('../dist/cli/bundle/secops.js', import.meta.url).href;
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write(
      `secops: ${problem}, and tsx (a development dependency) is not installed to run the sources: run \`npm run build\`.\n`,
    );
    process.exit(1);
  }
  process.stderr.write(
    `secops: ${problem}: running the TypeScript sources through tsx (slower to start). Run \`npm run build\` to build it.\n`,
  );
  register();
  entry = new URL('../cli/src/main.ts', import.meta.url).href;
}
const { main } = await import(entry);
process.exitCode = await main();
