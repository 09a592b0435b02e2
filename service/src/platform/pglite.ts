import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/**
 * PostgreSQL settings of the embedded PGlite (the development default), chosen for a small footprint
 * (docs/performance.md, "Embedded default (PGlite) memory", has the measurements).
 *
 * PGlite runs PostgreSQL inside one WebAssembly memory, which starts at the module's declared minimum
 * (128 MiB, mostly untouched and so not resident) and can only grow — by copying itself into a larger
 * allocation, which makes the whole old size resident and never gives it back. With PostgreSQL's
 * default `shared_buffers = 128MB` (what initdb writes) the buffer pool alone overflows the minimum,
 * and the process held ~190 MiB of WebAssembly memory, nearly all of it resident, before the first
 * query. Kept small, shared buffers and the per-operation memories fit the minimum, and only the pages
 * in use count. Reads beyond the buffer pool are served by the operating system's file cache (PGlite
 * reads DATA_DIR through ordinary file calls), which the kernel can reclaim and RSS does not count.
 *
 * Passed as `-c` start parameters, they override the data directory's postgresql.conf, so an existing
 * DATA_DIR gets them too and the file is left as initdb wrote it.
 */
export const EMBEDDED_POSTGRES_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  // The buffer pool. A development database is a few MiB; the kernel caches the rest of the files.
  shared_buffers: '16MB',
  // Index builds (the migrations') and VACUUM. The default 64MB could grow the memory for good.
  maintenance_work_mem: '8MB',
  // Session-local buffers for temporary tables, which the service does not create (default 8MB).
  temp_buffers: '1MB',
});

/** PGlite's own start parameters (single-user mode, no parallel workers…) plus the settings above. */
export function embeddedStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(EMBEDDED_POSTGRES_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

/**
 * Creates a fresh data directory in a child process. PGlite's initdb runs a second PostgreSQL instance
 * with a WebAssembly memory of its own, which it copies whole each time initdb starts the server, and
 * compiles the WebAssembly modules again; in the service's process that left ~300 MiB resident after
 * the first start, which a restart on the same directory did not pay. A worker thread is not enough:
 * the process kept ~130 MiB of what the worker had used (allocator arenas, compiled code). A child
 * process gives all of it back when it exits. It runs the same Node with a script passed as a string,
 * so that it works the same from the sources and from dist/.
 */
const INITDB_SCRIPT = `
const [pglite, dataDir, startParams] = process.argv.slice(1);
const { PGlite } = require(pglite);
PGlite.create(dataDir, { startParams: JSON.parse(startParams) })
  .then((pg) => pg.close())
  .catch((err) => {
    // Emscripten's file errors carry an errno and no message.
    const reason = err && err.message ? err.message : err && err.name ? err.name + ' errno ' + err.errno : String(err);
    process.stderr.write(reason + '\\n');
    process.exit(1);
  });
`;

/** How long initialising a data directory may take (a few seconds; 4–17 s measured on a busy 2-core machine). */
const INITDB_TIMEOUT_MS = 120_000;

function initdbInChild(dataDir: string): Promise<void> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['-e', INITDB_SCRIPT, pglite, dataDir, JSON.stringify(embeddedStartParams())],
      { timeout: INITDB_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, _stdout, stderr) => {
        process.off('exit', stop);
        if (!err) return resolve();
        reject(
          new Error(`PGlite could not initialise ${dataDir}: ${stderr.trim().split('\n').at(-1) || err.message}`, { cause: err }),
        );
      },
    );
    // The service stopped during its first start: the child must not go on writing the directory.
    const stop = () => child.kill('SIGKILL');
    process.once('exit', stop);
  });
}

/** Where initdb writes before its result is moved into DATA_DIR (inside it: the same file system). */
const STAGING_PREFIX = '.pglite-initdb-';

/**
 * initdb into a staging directory, then its entries moved into DATA_DIR with PG_VERSION last: PGlite
 * takes a directory with PG_VERSION for a database, so a first start interrupted at any point (the
 * process stopped or killed) leaves no half-initialised database behind, and the next start begins
 * again. DATA_DIR may hold other things (mail/, in development); they are left alone.
 */
async function initialiseDataDir(dataDir: string): Promise<void> {
  for (const entry of readdirSync(dataDir)) {
    if (entry.startsWith(STAGING_PREFIX)) rmSync(join(dataDir, entry), { recursive: true, force: true });
  }
  const staging = mkdtempSync(join(dataDir, STAGING_PREFIX));
  try {
    await initdbInChild(staging);
    const entries = readdirSync(staging).filter((entry) => entry !== 'PG_VERSION');
    for (const entry of [...entries, 'PG_VERSION']) {
      // Left by an attempt interrupted while moving (there is no PG_VERSION, so no database here).
      rmSync(join(dataDir, entry), { recursive: true, force: true });
      renameSync(join(staging, entry), join(dataDir, entry));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A PGlite that exists once `ready` settles, usable as one now: knex-pglite takes its instance
 * synchronously and awaits `waitReady` before the first query, which is when the data directory is
 * initialised (in a child process, when new) and the instance created.
 */
function deferred(ready: Promise<PGlite>): PGlite {
  let instance: PGlite | undefined;
  const waitReady = ready.then(async (pg) => {
    instance = pg;
    await pg.waitReady;
  });
  waitReady.catch(() => undefined); // the failure reaches knex through waitReady, at the first query
  const close = async () => {
    await waitReady.catch(() => undefined);
    if (instance && !instance.closed) await instance.close();
  };
  return new Proxy({} as PGlite, {
    get(_, property) {
      // Not a promise: resolving a promise with it (an async function returning it) must not await it.
      if (property === 'then') return undefined;
      if (property === 'waitReady') return waitReady;
      if (property === 'close') return close;
      if (!instance) throw new Error('the embedded PGlite was used before it was ready');
      const value: unknown = Reflect.get(instance, property, instance);
      return typeof value === 'function' ? value.bind(instance) : value;
    },
  });
}

/**
 * The embedded PGlite, tuned (EMBEDDED_POSTGRES_SETTINGS): on `dataDir` (initialised in a child
 * process the first time), or in memory when undefined.
 */
export function openEmbeddedPglite(dataDir: string | undefined): PGlite {
  const options = { startParams: embeddedStartParams() };
  if (dataDir === undefined) return new PGlite(options);
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  if (!fresh) return new PGlite(dataDir, options);
  return deferred(initialiseDataDir(dataDir).then(() => new PGlite(dataDir, options)));
}
