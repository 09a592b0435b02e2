/**
 * npm run bench:auth — login and refresh throughput/latency of the real service, login throughput
 * against raw @node-rs/argon2 verify (the service's library) at the same parameters (same run, same machine), and the p99 of
 * GET /healthz and authenticated GET /v1/me while a login flood saturates the password hasher.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { benchDatabase, NO_RATE_LIMITS, startService } from './lib/service.js';
import { argon2Settings } from './lib/baselines.js';
import { probe, runLoad } from './lib/load.js';
import { closedLoop, fmt, summarize, table } from './lib/stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const USERS = 16;
const FLOOD_CONNECTIONS = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 16);
const PASSWORD = 'correct horse battery staple 42';
/** The service's configured Argon2id cost and hash concurrency (bench/lib/baselines.ts). */
const { concurrency: HASH_CONCURRENCY, memoryCost, timeCost, parallelism } = argon2Settings();
const PARAMS = { memoryCost, timeCost, parallelism };

async function post(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const db = await benchDatabase();
const svc = await startService({
  ...db.env,
  ...NO_RATE_LIMITS,
  ARGON2_MAX_CONCURRENCY: String(HASH_CONCURRENCY),
  ARGON2_MAX_QUEUE: '1000',
});
try {
  const base = svc.baseUrl;
  const users: { email: string; access: string; refresh: string }[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `bench${i}@example.com`;
    const res = await post(base, '/v1/auth/signup', { email, password: PASSWORD });
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    if (res.status !== 201) throw new Error(`signup failed: ${JSON.stringify(body)}`);
    users.push({ email, access: body.access_token, refresh: body.refresh_token });
  }
  const token = users[0]?.access as string;

  // Raw verify with the service's library (@node-rs/argon2), same parameters, same concurrency the service allows.
  const hash = await argon2Hash(PASSWORD, { algorithm: 2 /* Argon2id */, ...PARAMS });
  const raw = await closedLoop(HASH_CONCURRENCY, SECONDS * 1000, async () => argon2Verify(hash, PASSWORD));
  const rawRate = raw.latencies.length / raw.seconds;

  // Idle latency.
  const idleHealth = summarize(await probe(`${base}/healthz`, 3000));
  const idleMe = summarize(await probe(`${base}/v1/me`, 3000, token));

  // Login throughput alone (nothing else running), then the same flood with light probes alongside.
  const loginLoad = {
    url: base,
    connections: FLOOD_CONNECTIONS,
    seconds: SECONDS,
    requests: users.map((u) => ({
      method: 'POST' as const,
      path: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: u.email, password: PASSWORD }),
    })),
  };
  const flood = await runLoad(loginLoad);
  const floodPromise = runLoad(loginLoad);
  await new Promise((r) => setTimeout(r, 500));
  const [floodHealthSamples, floodMeSamples] = await Promise.all([
    probe(`${base}/healthz`, SECONDS * 1000 - 1000),
    probe(`${base}/v1/me`, SECONDS * 1000 - 1000, token),
  ]);
  const floodWithProbes = await floodPromise;
  const loginRate = flood.rate;
  const loginLat = summarize(flood.latencies);
  const floodHealth = summarize(floodHealthSamples);
  const floodMe = summarize(floodMeSamples);

  // Refresh: each worker follows its own rotation chain.
  const chains = users.map((u) => u.refresh);
  const refresh = await closedLoop(8, SECONDS * 1000, async (w) => {
    const res = await post(base, '/v1/auth/refresh', { refresh_token: chains[w] });
    const body = (await res.json()) as { refresh_token?: string };
    if (res.status !== 200 || !body.refresh_token) return false;
    chains[w] = body.refresh_token;
    return true;
  });
  const refreshRate = (refresh.latencies.length - refresh.failures) / refresh.seconds;
  const refreshLat = summarize(refresh.latencies);

  const ratio = loginRate / rawRate;
  const healthRatio = floodHealth.p99 / idleHealth.p99;
  const meRatio = floodMe.p99 / idleMe.p99;
  console.log(
    `\nbench:auth — ${db.describe}, ${availableParallelism()} CPUs, argon2id m=${PARAMS.memoryCost} t=${PARAMS.timeCost} p=${PARAMS.parallelism}, ${SECONDS}s per phase`,
  );
  console.log(
    table(
      ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'],
      [
        [
          `raw @node-rs/argon2 verify ×${HASH_CONCURRENCY} (baseline)`,
          fmt(rawRate),
          fmt(summarize(raw.latencies).p50),
          fmt(summarize(raw.latencies).p95),
          fmt(summarize(raw.latencies).p99),
          0,
        ],
        [
          `POST /v1/auth/login ×${FLOOD_CONNECTIONS}`,
          fmt(loginRate),
          fmt(loginLat.p50),
          fmt(loginLat.p95),
          fmt(loginLat.p99),
          flood.errors,
        ],
        [
          `POST /v1/auth/login ×${FLOOD_CONNECTIONS} with probes`,
          fmt(floodWithProbes.rate),
          fmt(summarize(floodWithProbes.latencies).p50),
          fmt(summarize(floodWithProbes.latencies).p95),
          fmt(summarize(floodWithProbes.latencies).p99),
          floodWithProbes.errors,
        ],
        [
          'POST /v1/auth/refresh ×8',
          fmt(refreshRate),
          fmt(refreshLat.p50),
          fmt(refreshLat.p95),
          fmt(refreshLat.p99),
          refresh.failures,
        ],
        ['GET /healthz idle', '', fmt(idleHealth.p50, 2), fmt(idleHealth.p95, 2), fmt(idleHealth.p99, 2), 0],
        ['GET /healthz during login flood', '', fmt(floodHealth.p50, 2), fmt(floodHealth.p95, 2), fmt(floodHealth.p99, 2), 0],
        ['GET /v1/me idle', '', fmt(idleMe.p50, 2), fmt(idleMe.p95, 2), fmt(idleMe.p99, 2), 0],
        ['GET /v1/me during login flood', '', fmt(floodMe.p50, 2), fmt(floodMe.p95, 2), fmt(floodMe.p99, 2), 0],
      ],
    ),
  );
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\nlogin throughput / raw @node-rs/argon2 verify throughput = ${fmt(ratio, 2)} (target ≥ 0.9: ${verdict(ratio >= 0.9)})`);
  console.log(`/healthz p99 flood/idle = ${fmt(healthRatio, 2)}× (target ≤ 3: ${verdict(healthRatio <= 3)})`);
  console.log(`/v1/me  p99 flood/idle = ${fmt(meRatio, 2)}× (target ≤ 3: ${verdict(meRatio <= 3)})`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/auth.json',
    `${JSON.stringify({ at: new Date().toISOString(), database: db.describe, cpus: availableParallelism(), rawRate, loginRate, refreshRate, loginLat, refreshLat, idleHealth, floodHealth, idleMe, floodMe, ratio, healthRatio, meRatio }, null, 2)}\n`,
  );
} finally {
  await svc.stop();
  await db.drop();
}
