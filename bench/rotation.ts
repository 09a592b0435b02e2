/**
 * npm run bench:rotation — a full JWT signing-key rotation under load, which must fail zero requests.
 *
 * Method. Two replicas of the real service (child processes) share a throwaway PostgreSQL database,
 * Redis and one keyring file (JWT_KEYS_FILE, the shape of a Kubernetes secret volume), re-read every
 * BENCH_RELOAD_S (default 1) seconds; access tokens live 30 s (the smallest ACCESS_TOKEN_TTL_SECONDS).
 * BENCH_USERS (default 8) users sign up; a refresher rotates each user's refresh token every 2 s on
 * alternating replicas (and logs one user in every 5 s), so the pool of access tokens always holds
 * tokens signed by whatever key each replica signs with at that moment. autocannon drives
 * GET /v1/me on both replicas at once (BENCH_CONNECTIONS per replica, default 8), each request with
 * a token from the pool — tokens issued by one replica are verified by the other.
 *
 * After BENCH_LEAD_S (default 3) seconds of load, the real CLI runs as a child process:
 *   secops --json keys rotate --all-phases --ref file:<keyring> --reload-interval 1s --token-ttl 30s
 * stage → wait (reload interval + 5 s) → promote → wait (reload + TTL + 30 s clock tolerance + 5 s)
 * → prune. The load continues BENCH_TAIL_S (default 3) seconds after the CLI exits.
 *
 * Must hold (exit 1 otherwise): zero failed requests (non-2xx, errors, timeouts) in the load and in
 * the refresher; the CLI exits 0 with all three phases changed; tokens of both keys were used under
 * load; at the end the keyring holds only the new key and both replicas publish only it.
 * Writes bench/results/rotation.json.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import { initialDocument, parseKeysDocument, serializeKeysDocument } from '../service/src/public/auth.js';
import { callJson, runLoad } from './lib/load.js';
import { benchDatabase, benchRedis, NO_RATE_LIMITS, startService } from './lib/service.js';
import { fmt, summarize, table } from './lib/stats.js';
import { envInt } from './lib/env.js';


const USERS = envInt('BENCH_USERS', 8);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 8);
const RELOAD_S = envInt('BENCH_RELOAD_S', 1);
const LEAD_S = envInt('BENCH_LEAD_S', 3);
const TAIL_S = envInt('BENCH_TAIL_S', 3);
const TOKEN_TTL_S = 30;
const PASSWORD = 'correct horse battery staple 42';

interface Session {
  email: string;
  access: string;
  refresh: string;
}

async function main(): Promise<void> {
  const db = await benchDatabase();
  const redis = benchRedis();
  const dir = mkdtempSync(join(tmpdir(), 'rampart-rotation-'));
  const keyringPath = join(dir, 'jwt-keys.json');
  const initial = await initialDocument({ alg: 'EdDSA', now: new Date() });
  writeFileSync(keyringPath, serializeKeysDocument(initial), { mode: 0o600 });
  chmodSync(keyringPath, 0o600);

  const env = {
    ...db.env,
    ...redis.env,
    ...NO_RATE_LIMITS,
    JWT_SECRET: '',
    JWT_KEYS_FILE: keyringPath,
    JWT_KEYS_RELOAD_INTERVAL_SECONDS: String(RELOAD_S),
    ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_S),
  };
  const a = await startService(env);
  const b = await startService({ ...env, MIGRATE_ON_START: 'false' });
  const replicas = [a.baseUrl, b.baseUrl];
  let failedRefreshes = 0;
  let refreshes = 0;
  const failures: string[] = [];
  try {
    const sessions: Session[] = [];
    for (let i = 0; i < USERS; i++) {
      const email = `rotation-${i}@example.com`;
      const r = await callJson(replicas[i % 2] as string, 'POST', '/v1/auth/signup', { email, password: PASSWORD });
      if (r.status !== 201) throw new Error(`signup answered ${r.status}`);
      sessions.push({ email, access: r.body.access_token, refresh: r.body.refresh_token });
    }
    const kidsUsed = new Map<string, number>();
    let next = 0;
    const nextToken = () => {
      const s = sessions[next++ % sessions.length] as Session;
      const kid = String(decodeProtectedHeader(s.access).kid);
      kidsUsed.set(kid, (kidsUsed.get(kid) ?? 0) + 1);
      return s.access;
    };

    let stopping = false;
    const refresher = (async () => {
      let turn = 0;
      while (!stopping) {
        for (const s of sessions) {
          const replica = replicas[turn++ % 2] as string;
          refreshes++;
          const r = await callJson(replica, 'POST', '/v1/auth/refresh', { refresh_token: s.refresh }).catch(
            (err: Error): { status: number; body: Record<string, any> } => ({ status: 0, body: { error: err.message } }),
          );
          if (r.status === 200) {
            s.access = r.body.access_token;
            s.refresh = r.body.refresh_token;
          } else {
            failedRefreshes++;
            failures.push(`refresh on ${replica}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          }
        }
        if (turn % (sessions.length * 5) < sessions.length) {
          const s = sessions[0] as Session;
          refreshes++;
          const r = await callJson(replicas[turn % 2] as string, 'POST', '/v1/auth/login', { email: s.email, password: PASSWORD });
          if (r.status !== 200) {
            failedRefreshes++;
            failures.push(`login: ${r.status}`);
          }
        }
        await sleep(2000);
      }
    })();

    // Long enough for the whole rotation; autocannon runs are bounded, so the loads are chained.
    const timings: Record<string, number> = {};
    const t0 = performance.now();
    const load = (url: string) =>
      runLoad({
        url,
        connections: CONNECTIONS,
        // lead + (reload + 5 s) + (reload + TTL + 30 s + 5 s) + CLI start-up + tail
        seconds: LEAD_S + RELOAD_S * 2 + 5 + TOKEN_TTL_S + 35 + 5 + TAIL_S,
        requests: [
          {
            method: 'GET',
            path: '/v1/me',
            setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${nextToken()}` } }),
          },
        ],
      });
    const loads = Promise.all(replicas.map(load));

    await sleep(LEAD_S * 1000);
    timings.rotation_started_s = (performance.now() - t0) / 1000;
    const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          'bin/secops.js',
          '--json',
          'keys',
          'rotate',
          '--all-phases',
          '--ref',
          `file:${keyringPath}`,
          '--reload-interval',
          `${RELOAD_S}s`,
          '--token-ttl',
          `${TOKEN_TTL_S}s`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    timings.rotation_finished_s = (performance.now() - t0) / 1000;
    const results = await loads;
    timings.load_finished_s = (performance.now() - t0) / 1000;
    stopping = true;
    await refresher;

    const report = cli.code === 0 ? (JSON.parse(cli.stdout) as { phases: { phase: string; changed: boolean; kid?: string; removed?: string[] }[] }) : undefined;
    const finalDoc = parseKeysDocument(readFileSync(keyringPath, 'utf8'));
    const newKid = report?.phases.find((p) => p.phase === 'promote')?.kid;
    const published = await Promise.all(replicas.map(async (r) => (await callJson(r, 'GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid)));

    const requests = results.reduce((n, r) => n + r.rate * r.seconds + r.errors, 0);
    const failed = results.reduce((n, r) => n + r.errors, 0);
    const latency = summarize(results.flatMap((r) => r.latencies));
    console.log(`JWT key rotation under load — 2 replicas, ${CONNECTIONS} connections each, reload every ${RELOAD_S} s, token TTL ${TOKEN_TTL_S} s`);
    console.log(
      table(
        ['measure', 'value'],
        [
          ['GET /v1/me requests', Math.round(requests)],
          ['failed requests', failed],
          ['req/s (both replicas)', fmt(results.reduce((n, r) => n + r.rate, 0), 0)],
          ['p50 / p99 latency (ms)', `${fmt(latency.p50)} / ${fmt(latency.p99)}`],
          ['refreshes + logins', refreshes],
          ['failed refreshes/logins', failedRefreshes],
          ['tokens used, by kid', [...kidsUsed].map(([k, n]) => `${k}: ${n}`).join(', ')],
          ['rotation (stage → prune)', `${fmt(timings.rotation_finished_s - timings.rotation_started_s)} s, CLI exit ${cli.code}`],
          ['keyring at the end', finalDoc.keys.map((k) => k.kid).join(', ')],
        ],
      ),
    );
    if (failed > 0) failures.push(`${failed} failed GET /v1/me`);
    if (timings.load_finished_s < timings.rotation_finished_s) failures.push('the load ended before the rotation did');
    if (cli.code !== 0) failures.push(`secops keys rotate exited ${cli.code}: ${cli.stderr.slice(0, 500)}`);
    if (report && !report.phases.every((p) => p.changed)) failures.push(`a phase changed nothing: ${JSON.stringify(report.phases)}`);
    if (!newKid || finalDoc.signing !== newKid || finalDoc.keys.length !== 1) failures.push('the keyring does not hold only the new key');
    if (!published.every((kids) => kids.length === 1 && kids[0] === newKid)) failures.push(`replicas publish ${JSON.stringify(published)}`);
    if (!kidsUsed.has(initial.signing) || !newKid || !kidsUsed.has(newKid)) failures.push('the load did not use tokens of both keys');

    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/rotation.json',
      `${JSON.stringify(
        {
          replicas: 2,
          connections_per_replica: CONNECTIONS,
          reload_interval_s: RELOAD_S,
          token_ttl_s: TOKEN_TTL_S,
          requests: Math.round(requests),
          failed_requests: failed,
          refreshes_and_logins: refreshes,
          failed_refreshes_and_logins: failedRefreshes,
          latency_ms: latency,
          tokens_by_kid: Object.fromEntries(kidsUsed),
          rotation_seconds: timings.rotation_finished_s - timings.rotation_started_s,
          cli_exit: cli.code,
          failures,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await a.stop();
    await b.stop();
    await db.drop();
    await redis.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(`FAILED:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log('OK: zero failed requests through stage, promote and prune');
}

await main();
