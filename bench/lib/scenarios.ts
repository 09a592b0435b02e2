/**
 * The service scenarios of `npm run bench` (bench/run.ts) and the pool and scale benches: each is
 * a bounded autocannon run against a running service, given the users and conversation seeded
 * by `seedFixture`.
 */
import { randomBytes } from 'node:crypto';
import { callJson, jsonHeaders, type LoadRequest, type LoadResult, runLoad } from './load.js';
import { processCpuMs } from './stats.js';

export const BENCH_PASSWORD = 'correct horse battery staple 42';

export interface BenchUser {
  id: string;
  email: string;
  access: string;
  refresh: string;
}

export interface Fixture {
  base: string;
  users: BenchUser[];
  /** Conversation of users[0] that create-message and SSE post into. */
  conversationId: string;
}

/** Signs up `userCount` users; users[0] gets `conversations` conversations. */
export async function seedFixture(base: string, userCount: number, conversations = 10): Promise<Fixture> {
  const users: BenchUser[] = [];
  const run = randomBytes(3).toString('hex');
  for (let i = 0; i < userCount; i++) {
    const email = `bench-${run}-${i}@example.com`;
    const res = await callJson(base, 'POST', '/v1/auth/signup', { email, password: BENCH_PASSWORD });
    if (res.status !== 201) throw new Error(`signup answered ${res.status}: ${JSON.stringify(res.body)}`);
    users.push({ id: res.body.user.id, email, access: res.body.access_token, refresh: res.body.refresh_token });
  }
  const owner = users[0] as BenchUser;
  let conversationId = '';
  for (let i = 0; i < conversations; i++) {
    const res = await callJson(base, 'POST', '/v1/conversations', { title: `bench ${i}` }, owner.access);
    if (res.status !== 201) throw new Error(`create conversation answered ${res.status}`);
    conversationId = res.body.id;
  }
  return { base, users, conversationId };
}

export interface Scenario {
  name: string;
  /** What the table calls it. */
  label: string;
  connections: number;
  requests(fixture: Fixture): LoadRequest[];
}

let signupCounter = 0;
const signupRun = randomBytes(3).toString('hex');
/** Refresh chains survive across runs (warm-up, measure): a reused token would revoke its session. */
const refreshChains = new Map<string, string>();

type Slot = { slot?: number };

export function scenarios(sseClients: number): Scenario[] {
  return [
    {
      name: 'signup',
      label: 'POST /v1/auth/signup',
      connections: 8,
      requests: () => [
        {
          method: 'POST',
          path: '/v1/auth/signup',
          headers: jsonHeaders(),
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ email: `signup-${signupRun}-${signupCounter++}@example.com`, password: BENCH_PASSWORD }),
          }),
        },
      ],
    },
    {
      name: 'login',
      label: 'POST /v1/auth/login',
      connections: 16,
      requests: (f) =>
        f.users.map((u) => ({
          method: 'POST',
          path: '/v1/auth/login',
          headers: jsonHeaders(),
          body: JSON.stringify({ email: u.email, password: BENCH_PASSWORD }),
        })),
    },
    {
      name: 'refresh',
      label: 'POST /v1/auth/refresh',
      connections: 8,
      requests: (f) => {
        // Each connection follows the rotation chain of one user's session.
        let next = 0;
        const chainOf = (slot: number) => (f.users[slot % f.users.length] as BenchUser).id;
        return [
          {
            method: 'POST',
            path: '/v1/auth/refresh',
            headers: jsonHeaders(),
            setupRequest: (req, context) => {
              const c = context as Slot;
              c.slot ??= next++;
              const user = f.users[c.slot % f.users.length] as BenchUser;
              const token = refreshChains.get(user.id) ?? user.refresh;
              return { ...req, body: JSON.stringify({ refresh_token: token }) };
            },
            onResponse: (status, body, context) => {
              const c = context as Slot;
              if (status === 200 && c.slot !== undefined) refreshChains.set(chainOf(c.slot), JSON.parse(body).refresh_token);
            },
          },
        ];
      },
    },
    {
      name: 'me',
      label: 'GET /v1/me',
      connections: 16,
      requests: (f) => f.users.map((u) => ({ method: 'GET', path: '/v1/me', headers: jsonHeaders(u.access) })),
    },
    {
      name: 'conversations',
      label: 'GET /v1/conversations',
      connections: 16,
      requests: (f) => [{ method: 'GET', path: '/v1/conversations', headers: jsonHeaders(f.users[0]?.access) }],
    },
    {
      name: 'message',
      label: 'POST …/messages (builtin, no pacing)',
      connections: 8,
      requests: (f) => [
        {
          method: 'POST',
          path: `/v1/conversations/${f.conversationId}/messages`,
          headers: jsonHeaders(f.users[0]?.access),
          body: JSON.stringify({ content: 'How thick should a castle wall be?' }),
        },
      ],
    },
    {
      name: 'sse',
      label: `SSE reply streams ×${sseClients} clients`,
      connections: sseClients,
      requests: (f) => [
        {
          method: 'POST',
          path: `/v1/conversations/${f.conversationId}/messages`,
          headers: { ...jsonHeaders(f.users[0]?.access), accept: 'text/event-stream' },
          body: JSON.stringify({ content: 'Stream me a reply about moats.' }),
        },
      ],
    },
  ];
}

/**
 * A warm-up run (JIT, pools, caches) and then the measured one; with `pid`, also the CPU time that
 * process spent per successful request (all its threads: argon2's included).
 */
export async function measure(
  base: string,
  connections: number,
  requests: LoadRequest[],
  seconds: number,
  warmSeconds: number,
  pid?: number,
): Promise<LoadResult & { cpuMsPerRequest?: number }> {
  if (warmSeconds > 0) await runLoad({ url: base, connections, seconds: warmSeconds, requests });
  const cpu0 = pid ? processCpuMs(pid) : 0;
  const result = await runLoad({ url: base, connections, seconds, requests });
  if (!pid) return result;
  const ok = result.rate * result.seconds;
  return { ...result, cpuMsPerRequest: ok > 0 ? (processCpuMs(pid) - cpu0) / ok : Number.NaN };
}
