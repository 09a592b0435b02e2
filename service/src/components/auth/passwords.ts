/**
 * Password hashing policy: Argon2id at the configured cost, bounded concurrency, and a strict
 * reading of stored hashes before any work is spent on them.
 *
 * Where the hashes run: on a pool of worker threads (./hash-pool.ts), one per CPU the process may use
 * (ARGON2_MAX_CONCURRENCY, default config/load.ts cpuBudget: os.availableParallelism() capped by the
 * cgroup CPU quota), each at a lower scheduling priority than the event loop (ARGON2_THREAD_NICE,
 * default nice 10). Each thread computes synchronously with @node-rs/argon2 (Rust, napi-rs), ~2.2×
 * faster than the argon2 0.44 addon on the same machine; the computation stays on its thread. So a
 * login flood uses every idle core, and the event loop (JWT checks, database and Redis replies, every
 * other request) still gets a core the moment it has work: the scheduler gives a nice-0 thread ~10×
 * the weight of a nice-10 one. Until this round argon2 0.44 hashed on libuv's shared thread pool at
 * the event loop's priority, so the cap had to be one fewer than the CPUs to keep /v1/me fast, and
 * half of a 2-core machine idled in a flood (docs/performance.md, "Logins at the machine's capacity").
 *
 * The bound in front of the pool stays: at most `maxConcurrent` operations run, `maxQueue` wait, and
 * one more (or one that waited 10 s) gets a fast 503 with Retry-After instead of a growing backlog.
 * Hashes written by argon2 0.44 (the same PHC strings) verify unchanged.
 */
import { randomBytes } from 'node:crypto';
import { createHashPool, type HashThread } from './hash-pool.js';
import { createConcurrencyLimit } from '../../platform/concurrency-limit.js';
import { AppError } from '../../platform/errors.js';

export interface Argon2Policy {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasherOptions {
  policy: Argon2Policy;
  /** Hashes and verifies running at once (the composition root uses the CPU count). */
  maxConcurrent: number;
  /** Operations allowed to wait for a slot; one more gets a 503. */
  maxQueue: number;
  /** An operation still waiting after this long gets a 503 too. */
  queueTimeoutMs?: number;
  /** Nice value of the hashing threads (0–19, default 10): below the event loop's priority. */
  threadNice?: number;
  /** Told once when a hashing thread could not lower its priority (it hashes anyway). */
  onPriorityError?: (message: string) => void;
}

export interface PasswordHasher {
  /** PHC string: Argon2id v19, 16-byte random salt, 32-byte hash, the policy's parameters. */
  hash(password: string): Promise<string>;
  /** false on mismatch; throws UnsupportedHashError, without computing, for hashes it will not verify. */
  verify(hash: string, password: string): Promise<boolean>;
  /** Costs one verify at the current policy and returns false: for unknown emails (equal timing). */
  verifyDummy(password: string): Promise<false>;
  /** true when the stored hash is weaker than the policy or not Argon2id v19. */
  needsRehash(hash: string): boolean;
  stats(): { running: number; queued: number; rejected: number };
  /** The hash unknown-email logins are verified against (current policy, random salt and digest). */
  readonly dummyHash: string;
  /** Starts every hashing thread now (they start on first use otherwise) and describes them. */
  start(): Promise<HashThread[]>;
  /** Terminates the hashing threads (shutdown); operations after it are refused. */
  close(): Promise<void>;
}

export interface ParsedArgon2Hash {
  algorithm: 'argon2id' | 'argon2i' | 'argon2d';
  version: number;
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  saltBytes: number;
  hashBytes: number;
}

/**
 * Ceilings for stored hashes. They match the ranges config accepts (config/settings.ts), so the
 * service can always verify what it wrote, while a tampered or imported row cannot make one login
 * allocate gigabytes or burn seconds of CPU.
 */
export const ARGON2_VERIFY_LIMITS = Object.freeze({ memoryKiB: 1_048_576, timeCost: 10, parallelism: 16 });

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const VERSION_13 = 0x13;
const VERSION_10 = 0x10;

export type UnsupportedHashReason = 'malformed' | 'version' | 'parameters';

/** A stored hash this service refuses to verify; the caller treats it as a failed login. */
export class UnsupportedHashError extends Error {
  readonly code = 'unsupported_hash';
  readonly reason: UnsupportedHashReason;
  constructor(reason: UnsupportedHashReason) {
    // Never include the hash itself: it is credential material.
    super(`stored password hash is not supported (${reason})`);
    this.name = 'UnsupportedHashError';
    this.reason = reason;
  }
}

// PHC string format for Argon2 (https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md):
// `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`, B64 without padding. `v=` is absent
// in hashes written by Argon2 1.0. Numbers have no leading zeros and at most 10 digits (exact in a
// double); salt 8–64 bytes, hash 16–64 bytes. Anything else (keyid/data, other orders) is refused.
// @node-rs/argon2 writes and reads `m=…,t=…,p=…`, as argon2 0.44 did (argon2 0.45 wrote `m=…,p=…,t=…`,
// an order the reference implementation's decoder refuses too: test/reliability/faults-crash.test.ts
// caught every login after a signup failing under it).
const PHC_ARGON2 =
  /^\$(argon2id|argon2i|argon2d)(?:\$v=([1-9]\d{0,9}))?\$m=([1-9]\d{0,9}),t=([1-9]\d{0,9}),p=([1-9]\d{0,9})\$([A-Za-z0-9+/]{11,86})\$([A-Za-z0-9+/]{22,86})$/;
const MAX_PHC_LENGTH = 256;

/** B64 (RFC 4648 without padding) byte count, or undefined when not canonical. */
function b64Bytes(text: string): number | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text ? bytes.length : undefined;
}

/** Reads an Argon2 PHC string strictly; undefined when it is not one. Does not judge the cost. */
export function parseArgon2Hash(hash: string): ParsedArgon2Hash | undefined {
  if (typeof hash !== 'string' || hash.length > MAX_PHC_LENGTH) return undefined;
  const m = PHC_ARGON2.exec(hash);
  if (!m) return undefined;
  const [, algorithm, version, memoryKiB, timeCost, parallelism, salt, digest] = m;
  const saltBytes = b64Bytes(salt!);
  const hashBytes = b64Bytes(digest!);
  if (saltBytes === undefined || hashBytes === undefined || saltBytes < 8 || saltBytes > 64 || hashBytes < 16 || hashBytes > 64)
    return undefined;
  return {
    algorithm: algorithm as ParsedArgon2Hash['algorithm'],
    version: version === undefined ? VERSION_10 : Number(version),
    memoryKiB: Number(memoryKiB),
    timeCost: Number(timeCost),
    parallelism: Number(parallelism),
    saltBytes,
    hashBytes,
  };
}

/** Parses and bounds a stored hash; throws instead of letting argon2 spend memory/CPU on it. */
function assertVerifiable(hash: string): ParsedArgon2Hash {
  const parsed = parseArgon2Hash(hash);
  if (!parsed) throw new UnsupportedHashError('malformed');
  if (parsed.version !== VERSION_13 && parsed.version !== VERSION_10) throw new UnsupportedHashError('version');
  const { memoryKiB, timeCost, parallelism } = parsed;
  if (
    memoryKiB > ARGON2_VERIFY_LIMITS.memoryKiB ||
    timeCost > ARGON2_VERIFY_LIMITS.timeCost ||
    parallelism > ARGON2_VERIFY_LIMITS.parallelism ||
    memoryKiB < 8 * parallelism // Argon2's own minimum: 8 KiB per lane
  )
    throw new UnsupportedHashError('parameters');
  return parsed;
}

function assertPolicy(policy: Argon2Policy): void {
  const { memoryKiB, timeCost, parallelism } = policy;
  const ok =
    Number.isInteger(memoryKiB) &&
    Number.isInteger(timeCost) &&
    Number.isInteger(parallelism) &&
    timeCost >= 1 &&
    parallelism >= 1 &&
    memoryKiB >= 8 * parallelism &&
    memoryKiB <= ARGON2_VERIFY_LIMITS.memoryKiB &&
    timeCost <= ARGON2_VERIFY_LIMITS.timeCost &&
    parallelism <= ARGON2_VERIFY_LIMITS.parallelism;
  // A policy outside the verify limits would write hashes that verify() then refuses.
  if (!ok) throw new RangeError(`Argon2 policy out of range: m=${memoryKiB}, t=${timeCost}, p=${parallelism}`);
}

function phc(policy: Argon2Policy, salt: Buffer, digest: Buffer): string {
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=${policy.memoryKiB},t=${policy.timeCost},p=${policy.parallelism}$${b64(salt)}$${b64(digest)}`;
}

export function createPasswordHasher(options: PasswordHasherOptions): PasswordHasher {
  const { memoryKiB, timeCost, parallelism } = options.policy;
  const policy: Argon2Policy = Object.freeze({ memoryKiB, timeCost, parallelism });
  assertPolicy(policy);
  const limit = createConcurrencyLimit({
    max: options.maxConcurrent,
    maxQueue: options.maxQueue,
    queueTimeoutMs: options.queueTimeoutMs,
    onReject: () =>
      new AppError('service_unavailable', {
        detail: 'Too many password operations in progress; retry shortly.',
        headers: { 'Retry-After': '1' },
      }),
  });
  // As many threads as operations may run at once: an admitted operation never waits for a thread.
  const pool = createHashPool({ size: options.maxConcurrent, nice: options.threadNice ?? 10, onPriorityError: options.onPriorityError });
  const hashPolicy = Object.freeze({ ...policy, hashBytes: HASH_BYTES });

  // For unknown emails: a well-formed hash at the current policy with a random salt and random
  // digest. Verifying against it costs exactly one real verify and cannot succeed (2^-256), and
  // building it costs nothing, so even the first unknown-email login is not slower than the rest.
  const dummyHash = phc(policy, randomBytes(SALT_BYTES), randomBytes(HASH_BYTES));

  return {
    hash(password) {
      // The salt is drawn here, so its size is ours, not a library default.
      return limit.run(() => pool.hash(password, randomBytes(SALT_BYTES), hashPolicy));
    },

    async verify(hash, password) {
      assertVerifiable(hash);
      return limit.run(() => pool.verify(hash, password));
    },

    async verifyDummy(password) {
      await limit.run(() => pool.verify(dummyHash, password));
      return false;
    },

    needsRehash(hash) {
      let parsed: ParsedArgon2Hash;
      try {
        parsed = assertVerifiable(hash);
      } catch {
        return true; // never verifiable, so never "good enough" either
      }
      return (
        parsed.algorithm !== 'argon2id' ||
        parsed.version !== VERSION_13 ||
        parsed.memoryKiB < policy.memoryKiB ||
        parsed.timeCost < policy.timeCost ||
        parsed.parallelism < policy.parallelism ||
        parsed.saltBytes < SALT_BYTES ||
        parsed.hashBytes < HASH_BYTES
      );
    },

    stats: () => limit.stats(),
    dummyHash,
    start: () => pool.start(),
    close: () => pool.close(),
  };
}
