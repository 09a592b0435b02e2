/**
 * npm run bench:gate — what token budgets cost on POST /v1/conversations/{id}/messages (issue 21):
 * the same path with budgets on against budgets off (MODEL_TOKENS_PER_DAY/MONTH = 0, unlimited), in
 * the same run, on the same database and Redis. Both arms go through the model-call gate (its slots
 * are not optional); the budgeted arm also estimates the prompt's tokens, reserves them and the
 * output cap in Redis (one Lua script) and settles to the usage after the call. Target: the
 * budgeted arm's throughput within 1.1× of the unbudgeted one (baseline req/s ÷ budgeted req/s ≤ 1.1).
 *
 * Method: two service processes started as `npm start` starts one (bench/lib/service.ts), each with
 * its own users, the builtin model at zero pacing, rate limits out of reach, and caps far above the
 * load (8 connections on one user). The arms are measured in alternating blocks (A B, B A, …) so
 * drift on a shared machine falls on both; the ratio is of the summed rates. BENCH_SECONDS sets the
 * seconds per block (default 4), BENCH_ROUNDS the blocks per arm (default 3). The figures also go to
 * bench/results/gate.json, which `npm run bench` (scenario `gate`) reads into its table and targets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { fmt, summarize } from './lib/stats.js';
import { measure, scenarios, seedFixture } from './lib/scenarios.js';
import { benchDatabase, benchRedis, LOCAL_POSTGRES, NO_RATE_LIMITS, startService } from './lib/service.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 1.1;

const db = await benchDatabase({ fallbackUrl: LOCAL_POSTGRES });
const redis = benchRedis();
const common = {
  ...db.env,
  ...redis.env,
  ...NO_RATE_LIMITS,
  BUILTIN_MODEL_DELAY_MS: '0',
  MAX_MODEL_CALLS_PER_USER: '1000',
  MAX_MODEL_CALLS_TOTAL: '100000',
  MAX_STREAMS_TOTAL: '100000',
};
const services: Awaited<ReturnType<typeof startService>>[] = [];
try {
  const unbudgeted = await startService({ ...common, MODEL_TOKENS_PER_DAY: '0', MODEL_TOKENS_PER_MONTH: '0' });
  services.push(unbudgeted);
  const budgeted = await startService({ ...common, MODEL_TOKENS_PER_DAY: '1000000000000', MODEL_TOKENS_PER_MONTH: '1000000000000' });
  services.push(budgeted);
  const message = scenarios(1).find((s) => s.name === 'message');
  if (!message) throw new Error('the message scenario is missing from bench/lib/scenarios.ts');
  const arms = [
    { name: 'budgets off (baseline)', service: unbudgeted, fixture: await seedFixture(unbudgeted.baseUrl, 1, 1), requests: 0, seconds: 0, errors: 0, latencies: [] as number[] },
    { name: 'budgets on', service: budgeted, fixture: await seedFixture(budgeted.baseUrl, 1, 1), requests: 0, seconds: 0, errors: 0, latencies: [] as number[] },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const arm of round % 2 === 0 ? arms : [...arms].reverse()) {
      const r = await measure(arm.service.baseUrl, message.connections, message.requests(arm.fixture), SECONDS, round === 0 ? 2 : 1, arm.service.child.pid);
      arm.requests += r.rate * r.seconds;
      arm.seconds += r.seconds;
      arm.errors += r.errors;
      arm.latencies.push(...r.latencies);
      process.stderr.write(`  … round ${round + 1}/${ROUNDS}, ${arm.name}: ${fmt(r.rate, 0)} req/s\n`);
    }
  }
  const [off, on] = arms.map((a) => ({ ...a, rate: a.requests / a.seconds })) as [(typeof arms)[number] & { rate: number }, (typeof arms)[number] & { rate: number }];
  const cost = off.rate / on.rate;
  const client = new pg.Client({ connectionString: db.env.DATABASE_URL });
  await client.connect();
  const ledger = await client.query<{ n: number; estimated: boolean }>('select count(*)::int as n, bool_or(estimated) as estimated from model_usage').finally(() => client.end());
  process.stdout.write(
    [
      `POST …/messages ×${message.connections} (builtin model, no pacing), ${ROUNDS} alternating blocks of ${SECONDS} s per arm`,
      `  budgets off (baseline): ${fmt(off.rate, 0)} req/s, ${off.errors} errors`,
      `  budgets on:             ${fmt(on.rate, 0)} req/s, ${on.errors} errors`,
      `  cost of the budgets: ${fmt(cost, 3)}× (baseline req/s ÷ budgeted req/s; target ≤ ${TARGET}×) — ${cost <= TARGET ? 'met' : 'MISSED'}`,
      `  ledger: ${ledger.rows[0]?.n} model_usage rows (estimated tokens: ${ledger.rows[0]?.estimated ? 'yes, the builtin model reports none' : 'no'})`,
      '',
    ].join('\n'),
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/gate.json',
    `${JSON.stringify({ connections: message.connections, seconds: SECONDS, rounds: ROUNDS, off: { rate: off.rate, errors: off.errors, latency: summarize(off.latencies) }, on: { rate: on.rate, errors: on.errors, latency: summarize(on.latencies) }, cost, target: TARGET }, null, 2)}\n`,
  );
  if (off.errors + on.errors > 0) process.exitCode = 1;
} finally {
  for (const s of services) await s.stop();
  await redis.cleanup();
  await db.drop();
}
