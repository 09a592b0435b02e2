/**
 * npm run bench:login-cpu — where a login's CPU goes, across the whole machine (issue 24).
 *
 * `npm run bench` compares login throughput with raw Argon2 verifies, one per core in flight: on a
 * machine whose cores the hashes fill, every other millisecond a login costs — the service's event
 * loop, PostgreSQL, Redis, the load generator — is taken from the hashes. This bench says which.
 *
 * Method. The service as `npm run bench` starts it (production build, PostgreSQL, Redis, no rate
 * limits in reach), 16 users, 16 connections logging in for BENCH_SECONDS (default 6) per round,
 * BENCH_ROUNDS rounds (default 3) after a 2 s warm-up. Around each round it reads from /proc:
 * the service's threads split by nice value (the hashing threads run at ARGON2_THREAD_NICE > 0, the
 * event loop, GC and libuv threads at 0), every `postgres` process, every `redis` process, this
 * process (the load generator), and the machine's busy time from /proc/stat (all CPUs; the rest is
 * "other": the kernel's own threads and anything else running). Each is divided by the logins the
 * round answered. "non-hash" is the machine's busy time less the hashing threads': what a login
 * costs beside its hash. Beside it, the hashes' share of the CPU spent: at h ms of hash and r ms of
 * the rest, a saturated machine logs in cores ÷ (h + r) per second, against cores ÷ h for raw
 * verifies — so login ÷ raw verify ×cores cannot exceed h ÷ (h + r).
 *
 * Each round measures the service and then `npm run bench`'s bare Koa login (bench/lib/baseline-server.ts
 * POST /login: the same account read, hashing threads and open_password_login, without the limits,
 * lockout, audit, logging or validation), one after the other on the same database: the difference of
 * the two rows is what the service's own layers cost a login, and in which process.
 *
 * PostgreSQL and Redis are counted only when they run on this machine (they do in CI and here);
 * another machine's servers do not show. Linux only (/proc). Nothing is written to results/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { startBaseline } from './lib/baselines.js';
import { envInt } from './lib/env.js';
import { jsonHeaders, type LoadRequest, runLoad } from './lib/load.js';
import { BENCH_PASSWORD, seedFixture } from './lib/scenarios.js';
import { benchDatabase, benchRedis, LOCAL_POSTGRES, NO_RATE_LIMITS, startService } from './lib/service.js';
import { fmt, machineBusyMs, table } from './lib/stats.js';

const SECONDS = envInt('BENCH_SECONDS', 6);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const TICK_MS = 10; // USER_HZ 100

interface Cpu {
  hash: number;
  service: number;
  postgres: number;
  redis: number;
  loadGenerator: number;
  machine: number;
}

function stat(path: string): { ms: number; nice: number; comm: string } {
  const text = readFileSync(path, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), nice field 19: indexes 11, 12 and 16 after the name.
  return {
    ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
    nice: Number(fields[16]),
    comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
  };
}

function sample(servicePid: number): Cpu {
  const out: Cpu = { hash: 0, service: 0, postgres: 0, redis: 0, loadGenerator: 0, machine: machineBusyMs() };
  for (const tid of readdirSync(`/proc/${servicePid}/task`)) {
    try {
      const t = stat(`/proc/${servicePid}/task/${tid}/stat`);
      if (t.nice > 0) out.hash += t.ms;
      else out.service += t.ms;
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === servicePid) continue;
    try {
      const p = stat(`/proc/${pid}/stat`);
      if (Number(pid) === process.pid) out.loadGenerator += p.ms;
      else if (p.comm.startsWith('postgres')) out.postgres += p.ms;
      else if (p.comm.startsWith('redis')) out.redis += p.ms;
    } catch {
      // a process that ended between the listing and the read
    }
  }
  return out;
}

const cores = availableParallelism();
const db = await benchDatabase({ fallbackUrl: LOCAL_POSTGRES });
const redis = benchRedis();
const svc = await startService({ ...db.env, ...redis.env, ...NO_RATE_LIMITS, ARGON2_MAX_QUEUE: '1000' });
let closeBare: () => Promise<void> = async () => {};
try {
  process.stderr.write('  … seeding users\n');
  const fixture = await seedFixture(svc.baseUrl, 16, 0);
  const requests: LoadRequest[] = fixture.users.map((u) => ({
    method: 'POST',
    path: '/v1/auth/login',
    headers: jsonHeaders(),
    body: JSON.stringify({ email: u.email, password: BENCH_PASSWORD }),
  }));
  // The bare Koa login of `npm run bench` (bench/lib/baseline-server.ts POST /login: the same account
  // read, hashing threads and open_password_login, none of the limits, lockout, audit or logging),
  // measured in rounds alternated with the service's: where the service's extra CPU a login goes.
  const bare = await startBaseline('sql', { DATABASE_URL: db.env.DATABASE_URL ?? '' });
  closeBare = bare.stop;
  const bareRequests = requests.map((r) => ({ ...r, path: '/login' }));
  const servers = [
    { name: 'service', url: svc.baseUrl, pid: svc.child.pid as number, requests },
    { name: 'bare Koa login', url: bare.baseUrl, pid: bare.pid, requests: bareRequests },
  ];
  for (const s of servers) await runLoad({ url: s.url, connections: 16, seconds: 2, requests: s.requests });
  const rows: (string | number)[][] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const server of servers) {
      process.stderr.write(`  … round ${round} of ${ROUNDS}: ${server.name}\n`);
      const before = sample(server.pid);
      const r = await runLoad({ url: server.url, connections: 16, seconds: SECONDS, requests: server.requests });
      const after = sample(server.pid);
      const logins = r.rate * r.seconds;
      const per = (k: keyof Cpu) => (after[k] - before[k]) / logins;
      const other = per('machine') - per('hash') - per('service') - per('postgres') - per('redis') - per('loadGenerator');
      const nonHash = per('machine') - per('hash');
      rows.push([
        round,
        server.name,
        fmt(r.rate),
        r.errors,
        fmt(per('hash'), 2),
        fmt(per('service'), 2),
        fmt(per('postgres'), 2),
        fmt(per('redis'), 2),
        fmt(per('loadGenerator'), 2),
        fmt(other, 2),
        fmt(nonHash, 2),
        `${fmt((100 * per('hash')) / per('machine'), 0)} %`,
      ]);
    }
  }
  console.log(
    `\nnpm run bench:login-cpu — node: ${process.version}, cpus: ${cores}, load avg at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ${db.describe}, ${redis.describe}, seconds per round: ${SECONDS}\n`,
  );
  console.log('CPU ms per login (all threads of each; "other": the rest of the machine):\n');
  console.log(
    table(
      [
        'round',
        'server',
        'logins/s',
        'errors',
        'hash threads',
        'server, the rest',
        'PostgreSQL',
        'Redis',
        'load generator',
        'other',
        'non-hash',
        'hashes’ share',
      ],
      rows,
    ),
  );
  console.log(
    '\nhashes’ share: of the CPU the machine spent, the part in password hashes. With the cores saturated, login ÷ raw verify ×cores is about this share (times a raw verify’s cost ÷ the service’s).',
  );
} finally {
  await closeBare();
  await svc.stop();
  await db.drop();
  await redis.cleanup();
}
