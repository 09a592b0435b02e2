/**
 * `node --import tsx bench/lib/raw-argon2-child.ts <verify|hash> <seconds> <in flight>`: rawArgon2 in
 * a process of its own, which bench/lib/baselines.ts starts under `nice` to measure the raw hash at the
 * priority the service's hashing threads run at. Prints the RawRun as JSON on stdout.
 */
import { rawArgon2 } from './baselines.js';

const [op, seconds, inFlight] = process.argv.slice(2);
if (op !== 'verify' && op !== 'hash')
  throw new Error(`usage: raw-argon2-child.ts <verify|hash> <seconds> <in flight>, got ${op}`);
const run = await rawArgon2(op, Number(seconds), Number(inFlight));
process.stdout.write(`${JSON.stringify(run)}\n`);
