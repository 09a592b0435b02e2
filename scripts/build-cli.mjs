// The `secops` bundle, built by scripts/build.mjs after tsc: esbuild joins the compiled CLI
// (dist/cli/src) and commander into dist/cli/bundle/, so `secops --help` reads and compiles one file
// instead of ~40 modules. The entry holds main.js, the command definitions, the libraries they import
// and commander; every module that runs a command stays a chunk of its own, imported only when its
// command runs (esbuild's code splitting keeps them lazy, and modules shared by the entry and a chunk
// exist once, so `instanceof CliError` still holds across them). The service's code (dist/service,
// dist/migrations) and every other package stay outside the bundle, loaded from where they are, as
// the unbundled CLI loads them: their paths relative to import.meta.url keep working.
//
// Also writes dist/cli/bundle/build-info.json: the newest modification time among the sources the
// CLI is built from, read before compiling, which bin/secops.js compares with the sources' own to
// refuse a stale bundle.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build } from 'esbuild';

/** What the CLI is compiled from; bin/secops.js walks the same list (keep them in step). */
export const CLI_SOURCE_ROOTS = ['cli/src', 'service/src', 'migrations'];

/** The newest mtime (ms) of every file and folder under `roots`: an edit, an added or a removed file all move it. */
export function newestSourceMtime(roots = CLI_SOURCE_ROOTS) {
  let newest = 0;
  for (const root of roots) {
    newest = Math.max(newest, statSync(root).mtimeMs);
    for (const entry of readdirSync(root, { recursive: true })) newest = Math.max(newest, statSync(join(root, entry)).mtimeMs);
  }
  return newest;
}

/**
 * Bundles `<out>/cli/src/main.js` into `<out>/cli/bundle/`. `newestSource` is what newestSourceMtime()
 * returned before tsc ran: an edit made while building makes the bundle stale, not current.
 */
export async function bundleCli(out, newestSource) {
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
          // (fs.promises, …): measured on Node 26, 6 builtins cost ~6 ms more that way (docs/performance.md).
          b.onResolve({ filter: /^node:/ }, (args) => ({
            path: args.path,
            namespace:
              args.path === 'node:child_process' && /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
                ? 'lazy-builtin'
                : 'builtin',
          }));
          b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
            contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
            loader: 'js',
          }));
          // commander imports node:child_process (and with it net, dgram, …: ~3.5 ms) for executable
          // subcommands, which secops does not have: it gets the module when it first uses it. Its one
          // import is `import childProcess from 'node:child_process'`, used as `childProcess.spawn(…)`;
          // another form of import fails this build (no such export) rather than misbehaving.
          b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
            contents: `export default new Proxy({}, { get: (_, key) => process.getBuiltinModule(${JSON.stringify(args.path)})[key] });`,
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
  mkdirSync(dirname(join(outdir, 'build-info.json')), { recursive: true });
  writeFileSync(
    join(outdir, 'build-info.json'),
    `${JSON.stringify({ sources: CLI_SOURCE_ROOTS, newest_source_mtime_ms: newestSource }, null, 2)}\n`,
  );
}
