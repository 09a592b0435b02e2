import argon2 from 'argon2';
import { defaultHashConcurrency } from '../../service/src/public/config.js';
import { envSchema } from '../../service/src/public/config.js';
import { startChild } from './child.js';
import { closedLoop, type LatencySummary, summarize } from './stats.js';

/**
 * The service's Argon2id parameters and hash concurrency as the harness runs it: config defaults,
 * or the ARGON2_* variables of this environment, which the service child inherits too.
 */
export function argon2Settings(): { memoryCost: number; timeCost: number; parallelism: number; concurrency: number } {
  const argon2Env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('ARGON2_')));
  const env = envSchema.parse(argon2Env);
  return {
    memoryCost: env.ARGON2_MEMORY_KIB,
    timeCost: env.ARGON2_TIME_COST,
    parallelism: env.ARGON2_PARALLELISM,
    concurrency: env.ARGON2_MAX_CONCURRENCY ?? defaultHashConcurrency(),
  };
}

export interface RawRun {
  rate: number;
  latency: LatencySummary;
  /** CPU time (this process, all threads) per operation. */
  cpuMsPerRequest: number;
}

/**
 * Raw argon2 throughput in this process: `concurrency` closed loops of argon2.verify (or hash) at
 * the service's parameters, no HTTP, no database — what login (signup) would reach if the hash were
 * the only cost.
 */
export async function rawArgon2(op: 'verify' | 'hash', seconds: number): Promise<RawRun> {
  const { concurrency, ...params } = argon2Settings();
  const password = 'correct horse battery staple 42';
  const hash = await argon2.hash(password, { type: argon2.argon2id, ...params });
  await argon2.verify(hash, password); // warm
  const cpu0 = process.cpuUsage();
  const run = await closedLoop(concurrency, seconds * 1000, async () =>
    op === 'verify' ? argon2.verify(hash, password) : (await argon2.hash(password, { type: argon2.argon2id, ...params })).length > 0,
  );
  const cpu = process.cpuUsage(cpu0);
  const ok = run.latencies.length - run.failures;
  return { rate: ok / run.seconds, latency: summarize(run.latencies), cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / ok };
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
