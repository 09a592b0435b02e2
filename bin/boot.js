// How the service process starts, before any application module is loaded (bin/rampart.js picks the tree;
// the test suites call this with the sources whatever NODE_ENV says):
//   1. size libuv's thread pool (below);
//   2. for the sources, register tsx, the TypeScript loader (development and tests only);
//   3. start tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (service/src/platform/tracing-preload.mjs);
//   4. load main, which reads the configuration and listens.
// It reads process.env directly, the one exception to "only config reads the environment": these are
// settings of the Node process, made before the application exists. config/settings.ts still validates them.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** @param {'compiled' | 'sources'} tree dist/ (what production runs) or the TypeScript sources. */
export async function boot(tree) {
  // WebCrypto (jose), async fs, zlib and dns.lookup share libuv's pool, 4 threads by default. Password
  // hashes no longer run there (they have threads of their own at a lower priority,
  // components/auth/hash-pool.ts); the pool stays at CPU count + 4, as when argon2 0.44 used it, so
  // that a burst of JWT work never waits for a thread. libuv reads UV_THREADPOOL_SIZE once, when the first work is queued: on
  // Node 24+ the entry module runs before any pool work (measured on Node 26: 12 pbkdf2 jobs on 2 CPUs
  // finish together when this is in time, in three waves of a 4-thread pool when it is not), which
  // Node 20's ESM loader did not allow (it needed a `--require` preload). The TypeScript loader may
  // queue pool work of its own, hence this comes first. An operator's UV_THREADPOOL_SIZE always wins.
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism() + 4));

  let root;
  if (tree === 'compiled') {
    root = new URL('../dist/service/src/', import.meta.url);
    if (!existsSync(new URL('main.js', root))) {
      process.stderr.write('rampart: NODE_ENV=production runs the compiled service, and dist/ has none: run `npm run build` first.\n');
      process.exit(1);
    }
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    root = new URL('../service/src/', import.meta.url);
  }
  await import(new URL('platform/tracing-preload.mjs', root).href);
  await import(new URL(tree === 'compiled' ? 'main.js' : 'main.ts', root).href);
}
