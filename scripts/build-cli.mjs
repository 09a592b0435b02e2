// The `secops` bundle, built by scripts/build.mjs after tsc: esbuild joins the compiled CLI
// (dist/cli/src) and commander into dist/cli/bundle/, so that `secops --help` loads 12 files instead
// of ~48 modules (docs/performance.md, "CLI startup"). The entry holds main.js, the command definitions, the libraries they import
// and commander; every module that runs a command stays a chunk of its own, imported only when its
// command runs (esbuild's code splitting keeps them lazy, and modules shared by the entry and a chunk
// exist once, so `instanceof CliError` still holds across them). The service's code (dist/service,
// dist/migrations) and every other package stay outside the bundle, loaded from where they are, as
// the unbundled CLI loads them: their paths relative to import.meta.url keep working.
//
// Also writes dist/cli/bundle/build-info.json: which source folders the CLI is compiled from and when
// the build started reading them. bin/secops.js refuses the bundle when a file or folder under them
// has changed since (a later modification time): it then runs the sources.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** What the CLI is compiled from (its own code, the service's it imports, the migrations it runs). */
export const CLI_SOURCE_ROOTS = ['cli/src', 'service/src', 'migrations'];

/**
 * Bundles `<out>/cli/src/main.js` into `<out>/cli/bundle/`. `startedAt` is Date.now() taken before tsc
 * read the sources: a source changed while building makes the bundle stale, not current. (A source
 * dated in the future keeps it stale, loudly, until it is touched: better than missing edits.)
 */
export async function bundleCli(out, startedAt) {
  const dist = resolve(out);
  const outdir = join(dist, 'cli/bundle');
  const distDir = dist + sep;
  const cliDir = join(dist, 'cli') + sep;
  await build({
    entryPoints: { secops: join(dist, 'cli/src/main.js') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    // Class and function names as written (errors set `name` from `new.target.name`).
    keepNames: true,
    sourcemap: 'linked',
    // commander is bundled from this checkout's node_modules, wherever `--out` puts the build.
    nodePaths: [resolve('node_modules')],
    chunkNames: '[name]-[hash]',
    logLevel: 'warning',
    plugins: [
      {
        name: 'outside-the-cli',
        setup(b) {
          // Node's own modules: `process.getBuiltinModule()`, the object `require()` returns. An ESM
          // `import` of a builtin builds an ES module facade over it first, evaluating every export
          // (fs.promises, …): on Node 26, commander's six builtins alone cost ~8 ms that way against ~3 ms
          // through require(); ~2 ms of `secops --help` in the bundle (docs/performance.md).
          b.onResolve({ filter: /^node:/ }, (args) => ({
            path: args.path,
            namespace: !/[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
              ? 'builtin'
              : args.path === 'node:child_process'
                ? 'lazy-builtin'
                : args.path === 'node:util'
                  ? 'lazy-util'
                  : 'builtin',
          }));
          b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
            contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
            loader: 'js',
          }));
          // commander imports node:child_process (and with it net, dgram, …: ~3.5 ms) for executable
          // subcommands, which secops does not have: it gets the module when it first uses it. Its one
          // import takes the module's default export as `childProcess`, used as `childProcess.spawn(…)`;
          // another form of import fails this build (no such export) rather than misbehaving.
          b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
            contents: `export default new Proxy({}, { get: (_, key) => process.getBuiltinModule(${JSON.stringify(args.path)})[key] });`,
            loader: 'js',
          }));
          // commander imports node:util for stripVTControlCharacters alone (help layout, colour stripping).
          // Loading node:util on Node 26 loads its diff and colour modules, and the colour module builds
          // process.stderr to ask it about colours (~1.5–4 ms). Text without ESC or CSI has no control
          // sequence to strip (every one starts with one of them): it is returned as it is, and node:util is
          // loaded only for text that has one. Another import from node:util fails this build.
          b.onLoad({ filter: /.*/, namespace: 'lazy-util' }, () => ({
            contents: `const MAY_HAVE_CONTROL = /[\\u001b\\u009b]/;
export function stripVTControlCharacters(text) {
  return MAY_HAVE_CONTROL.test(text) ? process.getBuiltinModule('node:util').stripVTControlCharacters(text) : text;
}`,
            loader: 'js',
          }));
          // Packages stay in node_modules, except commander, which every `secops` run loads.
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path === 'commander' ? undefined : { path: args.path, external: true },
          );
          // The service's modules (and anything else compiled outside dist/cli) are imported from dist/
          // as they are: rewritten relative to the bundle's folder.
          b.onResolve({ filter: /^\.\.?\// }, (args) => {
            const target = resolve(args.resolveDir, args.path);
            if (!target.startsWith(distDir) || target.startsWith(cliDir)) return undefined;
            return { path: `./${relative(outdir, target).split(sep).join('/')}`.replace(/^\.\/\.\.\//, '../'), external: true };
          });
        },
      },
    ],
  });
  mkdirSync(outdir, { recursive: true });
  await writeHelpPages(outdir);
  writeFileSync(
    join(outdir, 'build-info.json'),
    `${JSON.stringify({ sources: CLI_SOURCE_ROOTS, sources_read_at_ms: startedAt }, null, 2)}\n`,
  );
}

/**
 * Every help page of the bundle just built, as `secops <command…> --help` prints it off a terminal,
 * into `<outdir>/help.json` ({ pages: { "": top level, "keys": …, "keys rotate": … } }). bin/secops.js
 * answers a help request whose output is not a terminal from it, without loading the bundle
 * (docs/performance.md, "CLI startup"). Each page is the bundle's own `main()` output for that command
 * line, so it is commander's rendering at its default width (80); a page that does not come out with exit
 * code 0 and nothing on stderr fails the build. test/cli/bin-bundle.test.ts holds the pages to what the
 * sources print.
 */
async function writeHelpPages(outdir) {
  const { buildProgram, main } = await import(pathToFileURL(join(outdir, 'secops.js')).href);
  const quiet = { write: () => true };
  const program = await buildProgram({ stdout: quiet, stderr: quiet, env: {}, isTTY: false });
  const paths = [];
  const walk = (command, path) => {
    paths.push(path);
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  const pages = {};
  for (const path of paths) {
    let out = '';
    let err = '';
    const io = { stdout: { write: (s) => (out += s) }, stderr: { write: (s) => (err += s) }, env: {}, isTTY: false };
    const code = await main([...path, '--help'], io);
    if (code !== 0 || err !== '') throw new Error(`secops ${[...path, '--help'].join(' ')} exited ${code}: ${err}`);
    pages[path.join(' ')] = out;
  }
  writeFileSync(join(outdir, 'help.json'), `${JSON.stringify({ pages })}\n`);
}
