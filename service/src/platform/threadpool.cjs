/**
 * Sizes libuv's thread pool — preloaded with `node --require` (see package.json "start").
 *
 * argon2 (native addon), WebCrypto (jose's JWT HMAC/EdDSA), async fs, zlib and dns.lookup share
 * libuv's pool, 4 threads by default: concurrent password hashes would queue every JWT verification
 * behind them. We take CPU count + 4, so that with password work capped at the CPU count
 * (components/auth/passwords.ts) four threads stay free for everything else.
 *
 * libuv reads UV_THREADPOOL_SIZE once, when the first work is queued. On Node 20 the ESM loader
 * reads the entry point with async fs, so the pool has started before any ES module runs — an
 * import inside main.ts is too late (measured). A synchronous CommonJS preload runs before the
 * loader, hence this file is plain CommonJS and touches process.env directly: it is a setting of
 * the Node process, not of the application. An operator's own UV_THREADPOOL_SIZE always wins.
 */
const { availableParallelism } = require('node:os');

if (!process.env.UV_THREADPOOL_SIZE) {
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism() + 4));
}
