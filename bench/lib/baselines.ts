import { spawnSync } from 'node:child_process';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { cpuBudget, defaultHashConcurrency, envSchema } from '../../service/src/public/config.js';
import { startChild } from './child.js';
import { closedLoop, type LatencySummary, summarize } from './stats.js';

/**
 * The service's Argon2id parameters and hash concurrency as the harness runs it: config defaults,
 * or the ARGON2_* variables of this environment, which the service child inherits too; and `cores`,
 * the CPUs a process may use here (config/load.ts cpuBudget: os.availableParallelism() capped by the
 * cgroup quota), the number of hashes in flight that fills the machine; `nice`, the hashing threads' priority.
 */
export function argon2Settings(): { memoryCost: number; timeCost: number; parallelism: number; concurrency: number; cores: number; nice: number } {
  const argon2Env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('ARGON2_')));
  const env = envSchema.parse(argon2Env);
  return {
    memoryCost: env.ARGON2_MEMORY_KIB,
    timeCost: env.ARGON2_TIME_COST,
    parallelism: env.ARGON2_PARALLELISM,
    concurrency: env.ARGON2_MAX_CONCURRENCY ?? defaultHashConcurrency(),
    cores: cpuBudget(),
    nice: env.ARGON2_THREAD_NICE,
  };
}

export interface RawRun {
  rate: number;
  latency: LatencySummary;
  /** CPU time (this process, all threads) per operation. */
  cpuMsPerRequest: number;
}

/** What the raw baselines compute with: the library the service hashes with (components/auth/hash-worker.mjs). */
export const RAW_ARGON2 = '@node-rs/argon2';
const ARGON2ID = 2; // @node-rs/argon2 Algorithm.Argon2id (a const enum, which isolatedModules cannot import)

/**
 * Raw Argon2id throughput in this process: `inFlight` closed loops of @node-rs/argon2 verify (or hash)
 * at the service's parameters — its async functions, on libuv's thread pool (4 threads here, enough
 * for one per core on the 2-core bench machine) — no HTTP, no database, no worker messages: what login
 * (signup) would reach if the hash were the only cost. One per core in flight is the machine's
 * capacity; ×1 is one hash at a time.
 */
export async function rawArgon2(op: 'verify' | 'hash', seconds: number, inFlight: number): Promise<RawRun> {
  const { memoryCost, timeCost, parallelism } = argon2Settings();
  const options = { algorithm: ARGON2ID, memoryCost, timeCost, parallelism };
  const password = 'correct horse battery staple 42';
  const hash = await argon2Hash(password, options);
  await argon2Verify(hash, password); // warm
  const cpu0 = process.cpuUsage();
  const run = await closedLoop(inFlight, seconds * 1000, async () =>
    op === 'verify' ? argon2Verify(hash, password) : (await argon2Hash(password, options)).length > 0,
  );
  const cpu = process.cpuUsage(cpu0);
  const ok = run.latencies.length - run.failures;
  return { rate: ok / run.seconds, latency: summarize(run.latencies), cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / ok };
}

/**
 * rawArgon2 in a child process started under `nice -n <nice>`: the raw hash at the priority the
 * service's hashing threads give themselves (ARGON2_THREAD_NICE). On a machine that runs nothing
 * else it equals the nice-0 figure; where other processes compete for the cores, a lower priority
 * yields to them, and this row shows how much of a gap between login and the nice-0 baseline is
 * that yielding rather than the service's own overhead.
 */
export function rawArgon2AtNice(op: 'verify' | 'hash', seconds: number, inFlight: number, nice: number): RawRun {
  const child = spawnSync('nice', ['-n', String(nice), process.execPath, '--import', 'tsx', 'bench/lib/raw-argon2-child.ts', op, String(seconds), String(inFlight)], {
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  if (child.status !== 0) throw new Error(`raw-argon2-child.ts failed (${child.status ?? child.signal}): ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as RawRun;
}

export interface BaselineServer {
  baseUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/lib/baseline-server.ts: bare Koa with in-memory JSON (`json`) or the service's SQL (`sql`). */
export async function startBaseline(kind: 'http' | 'json' | 'sql', env: Record<string, string> = {}): Promise<BaselineServer> {
  const child = await startChild('bench/lib/baseline-server.ts', { ...env, BASELINE: kind });
  return { baseUrl: `http://127.0.0.1:${child.port}`, pid: child.child.pid as number, stop: child.stop };
}
