#!/usr/bin/env node
import './require-node.js';
// The `secops` entry point. It runs the compiled bundle that `npm run build` writes to dist/cli/bundle/
// (`npm ci` and `npm install` build it through the "prepare" script), unless that bundle is missing or
// older than the sources: then it says so on stderr and runs the TypeScript sources through tsx, so
// that a stale build never silently runs old code. In the image there are no sources: the bundle runs.
// A help request whose output is not a terminal is answered from the help pages the same build
// rendered (dist/cli/bundle/help.json) without loading the bundle at all.
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
const HELP_PAGES = join(ROOT, 'dist/cli/bundle/help.json');

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

/**
 * The page of a help request, from the pages the build rendered (dist/cli/bundle/help.json, written by
 * scripts/build-cli.mjs with the bundle's own `main()`), or undefined. A help request is
 * `secops [command…] --help` (or `-h`) naming a command exactly, `secops help` or `secops help <group>`;
 * anything else (another option, an unknown word) is commander's to answer. Only when the output is not
 * a terminal: the pages are laid out for commander's default width, and on a terminal help wraps to
 * its width. The build is known to be current here, and the pages are part of it.
 */
function renderedHelp(args) {
  let path;
  if (args[0] === 'help' && args.length <= 2) path = args.slice(1);
  else if (args.length >= 1 && (args.at(-1) === '--help' || args.at(-1) === '-h')) path = args.slice(0, -1);
  else return undefined;
  if (path.some((word) => word.startsWith('-')) || mayBeTerminal(1)) return undefined;
  try {
    const { pages } = JSON.parse(fs.readFileSync(HELP_PAGES, 'utf8'));
    const page = pages[path.join(' ')];
    return typeof page === 'string' ? page : undefined;
  } catch {
    return undefined; // no pages (an older build): commander renders it
  }
}

/**
 * Could `fd` be a terminal? A terminal is a character device, /dev/null is not one; the same test as
 * cli/src/lib/stdio.ts's isTerminal without its last step (node:tty costs ~8 ms): any other character
 * device counts as a terminal here, and commander renders for it.
 */
function mayBeTerminal(fd) {
  try {
    const device = fs.fstatSync(fd);
    return device.isCharacterDevice() && device.rdev !== fs.statSync('/dev/null', { throwIfNoEntry: false })?.rdev;
  } catch {
    return false;
  }
}

/**
 * Writes all of `text` to standard output; a reader that has gone (`secops --help | head -1`) is not an
 * error. A non-blocking descriptor that is full (EAGAIN) gets the rest through process.stdout, which
 * waits for it (as cli/src/lib/stdio.ts does).
 */
function writeToStdout(text) {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  try {
    while (offset < bytes.length) offset += fs.writeSync(1, bytes, offset);
  } catch (err) {
    if (err.code === 'EAGAIN') process.stdout.write(bytes.subarray(offset));
    else if (err.code !== 'EPIPE') throw err;
  }
}

let entry;
const problem = bundleProblem();
const page = problem === undefined ? renderedHelp(process.argv.slice(2)) : undefined;
if (page !== undefined) {
  writeToStdout(page);
  process.exitCode = 0;
} else if (problem === undefined) {
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
if (entry !== undefined) {
  const { main } = await import(entry);
  process.exitCode = await main();
}
