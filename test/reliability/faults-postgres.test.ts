import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { skipUnlessRealPostgres } from '../helpers/services.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import type { SseEvent } from '../helpers/sse.js';
import {
  type Answer,
  CHILD_ENV,
  call,
  callStream,
  errorLines,
  isServiceUnavailable,
  newUser,
  PASSWORD,
  runWorkers,
  serviceEnv,
  Tally,
  waitFor,
} from './helpers/fault-traffic.js';
import { type PrivatePostgres, privatePostgresAvailable, startPrivatePostgres } from '../helpers/private-postgres.js';

/**
 * PostgreSQL goes away under traffic: every request that needs it is refused quickly with 503
 * `service_unavailable` (problem+json, Retry-After), never a 500 and never a hang past the acquire
 * timeout; readiness reports it, liveness does not; and when it comes back the same process serves
 * again without a restart. Then the shared server kills the service's connections from under it.
 */

const ACQUIRE_TIMEOUT_MS = 1000;
/** No answer within this is a hang (the acquire timeout plus slack for a loaded 2-core machine). */
const HANG_MS = ACQUIRE_TIMEOUT_MS + 2500;
const WORKERS = 4;
/** A short acquire timeout, and replies slow enough (~0.1–0.3 s) that some streams straddle the fault. */
/**
 * statement_timeout is the server's: a frozen server never sends it. The service's own bound is
 * DB_STATEMENT_TIMEOUT_MS + 1 s per query (pg's query_timeout), and the acquire timeout for new connections.
 */
const STATEMENT_TIMEOUT_MS = 1000;
const SERVICE_SETTINGS = {
  DB_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
  DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
  DB_POOL_MAX: '5',
  BUILTIN_MODEL_DELAY_MS: '5',
};

interface Client {
  token: string;
  email: string;
  conversationId: string;
}

async function prepareClients(baseUrl: string, n: number): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const user = await newUser(baseUrl, `pgfault${i}`);
      const conversation = await call(baseUrl, 'POST', '/v1/conversations', { token: user.token, json: {}, timeoutMs: 5000 });
      assert.equal(conversation.status, 201);
      return { token: user.token, email: user.email, conversationId: conversation.body.id as string };
    }),
  );
}

/** One of the mixed requests a worker makes: reads and writes on its own data, logins now and then. */
async function oneRequest(baseUrl: string, client: Client, n: number): Promise<{ what: string; answer: Answer & { events?: SseEvent[] } }> {
  const opts = { token: client.token, timeoutMs: HANG_MS };
  switch (n % 7) {
    case 0:
      return { what: 'GET /v1/conversations', answer: await call(baseUrl, 'GET', '/v1/conversations?limit=5', opts) };
    case 1:
      return { what: 'POST /v1/conversations', answer: await call(baseUrl, 'POST', '/v1/conversations', { ...opts, json: { title: `t${n}` } }) };
    case 2:
      return {
        what: 'POST messages',
        answer: await call(baseUrl, 'POST', `/v1/conversations/${client.conversationId}/messages`, { ...opts, json: { content: `m${n}` } }),
      };
    case 3:
      return { what: 'GET /v1/me', answer: await call(baseUrl, 'GET', '/v1/me', opts) };
    case 4:
      return {
        what: 'GET messages',
        answer: await call(baseUrl, 'GET', `/v1/conversations/${client.conversationId}/messages?limit=5`, opts),
      };
    case 5: {
      const streamed = await callStream(baseUrl, client.conversationId, { token: client.token, content: `s${n}`, timeoutMs: HANG_MS });
      return { what: 'POST messages (SSE)', answer: streamed };
    }
    default:
      return {
        what: 'POST /v1/auth/login',
        answer: await call(baseUrl, 'POST', '/v1/auth/login', { json: { email: client.email, password: PASSWORD }, timeoutMs: HANG_MS }),
      };
  }
}

/** 2xx is served, a proper 503 is by design, anything else (500, a hang, a 401) is unexpected. */
function verdictOf(answer: Answer & { events?: SseEvent[] }) {
  if (answer.events && answer.status === 200) {
    // A stream is served when it ends with `done`; the database failing mid-stream must end it with a 503 problem event.
    const last = answer.events.at(-1);
    if (last?.event === 'done') return 'served' as const;
    return last?.event === 'error' && last.data.code === 'service_unavailable' && last.data.status === 503
      ? ('by_design' as const)
      : ('unexpected' as const);
  }
  if (answer.status >= 200 && answer.status < 300) return 'served' as const;
  return isServiceUnavailable(answer) ? ('by_design' as const) : ('unexpected' as const);
}

/**
 * Runs the mixed workload until `stop` aborts, sorting answers into `tally()` (the tally of the phase
 * in force when the request was sent).
 */
function startTraffic(baseUrl: string, clients: Client[], tally: () => Tally) {
  const stop = new AbortController();
  /** Ids of the conversations whose creation was acknowledged (201): each must survive the fault. */
  const acknowledged: string[] = [];
  /** Sessions of acknowledged logins: each must have its login_succeeded audit row. */
  const logins: string[] = [];
  let n = 0;
  const done = runWorkers(WORKERS, stop.signal, async (worker) => {
    const phase = tally();
    const { what, answer } = await oneRequest(baseUrl, clients[worker % clients.length] as Client, n++);
    phase.add(what, answer, verdictOf(answer));
    if (what === 'POST /v1/conversations' && answer.status === 201) acknowledged.push(answer.body.id);
    if (what === 'POST /v1/auth/login' && answer.status === 200) logins.push(sessionOf(answer.body.access_token));
    await sleep(10);
  });
  return {
    acknowledged,
    logins,
    async stop() {
      stop.abort();
      await done;
    },
  };
}

const sessionOf = (accessToken: string): string =>
  JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString('utf8')).sid;

/** Sessions of `sessionIds` without a login_succeeded audit row. */
async function unaudited(url: string, sessionIds: string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query(
      "select details->>'session_id' as id from audit_events where type = 'login_succeeded' and details->>'session_id' = any($1)",
      [sessionIds],
    );
    const found = new Set(r.rows.map((row: { id: string }) => row.id));
    return sessionIds.filter((id) => !found.has(id));
  } finally {
    await client.end();
  }
}

/** Those of `ids` the database does not hold. */
async function missingConversations(url: string, ids: string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query('select id from conversations where id = any($1::uuid[])', [ids]);
    const found = new Set(r.rows.map((row: { id: string }) => row.id));
    return ids.filter((id) => !found.has(id));
  } finally {
    await client.end();
  }
}

/** Streams the service ended with a 503 `error` event so far (chat/service.ts logs each). */
const streamsEndedWith503 = (svc: ServiceProcess) => svc.output().split('stream ended with 503').length - 1;

const readyz = (baseUrl: string) => call(baseUrl, 'GET', '/readyz', { timeoutMs: HANG_MS });

describe('PostgreSQL unavailable (a private cluster, stopped and started under traffic)', () => {
  let cluster: PrivatePostgres | undefined;
  let service: ServiceProcess | undefined;
  let clients: Client[];

  before(async () => {
    privatePostgresAvailable();
    cluster = await startPrivatePostgres();
    service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({ ...SERVICE_SETTINGS, DATABASE_URL: cluster.url() }),
    });
    clients = await prepareClients(service.baseUrl, WORKERS);
  });
  after(async () => {
    cluster?.thaw();
    await service?.stop(5000);
    await cluster?.dispose();
  });

  for (const mode of ['immediate', 'fast'] as const) {
    it(`after pg_ctl stop -m ${mode}: 503 service_unavailable fast, /readyz 503, /healthz 200; recovers without a restart`, async () => {
      const svc = service as ServiceProcess;
      const pgCluster = cluster as PrivatePostgres;
      const streamErrorsBefore = streamsEndedWith503(svc);
      const before = new Tally(`postgres stop -m ${mode} (before)`);
      const fault = new Tally(`postgres stop -m ${mode}`);
      const recovered = new Tally(`postgres stop -m ${mode} (after restart)`);
      let phase = before;
      const traffic = startTraffic(svc.baseUrl, clients, () => phase);
      try {
        await waitFor('some traffic served before the fault', () => before.served >= 8, 10_000);
        phase = fault;
        await pgCluster.stop(mode);

        const notReadyAfterMs = await waitFor('/readyz 503', async () => (await readyz(svc.baseUrl)).status === 503, 5000);
        const ready = await readyz(svc.baseUrl);
        assert.equal(ready.status, 503);
        assert.equal(ready.body.status, 'not_ready');
        assert.equal(ready.body.checks.database, 'failing');
        assert.equal((await call(svc.baseUrl, 'GET', '/healthz', { timeoutMs: HANG_MS })).status, 200, 'liveness does not depend on the database');
        await waitFor('requests refused during the outage', () => fault.byDesign >= 3 * WORKERS, 10_000);

        await pgCluster.start();
        const readyAfterMs = await waitFor('/readyz 200 after the restart', async () => (await readyz(svc.baseUrl)).status === 200, 10_000);
        // Requests sent from here on were sent with the database back: they must all be served.
        phase = recovered;
        await waitFor('traffic served again', () => recovered.served >= 4 * WORKERS, 10_000);
        await traffic.stop();

        const lost = await missingConversations(pgCluster.url(), traffic.acknowledged);
        console.log(
          fault.summary({
            readyz_503_after_ms: Math.round(notReadyAfterMs),
            readyz_200_after_restart_ms: Math.round(readyAfterMs),
            acknowledged_writes: traffic.acknowledged.length,
            acknowledged_writes_lost: lost.length,
            // SSE streams the outage cut after their 200: they end with an `error` event carrying the 503 problem.
            streams_ended_with_503_event: streamsEndedWith503(svc) - streamErrorsBefore,
          }),
        );
        console.log(recovered.summary());
        assert.deepEqual(before.unexpected, [], 'nothing failed before the fault');
        assert.deepEqual(
          fault.unexpected,
          [],
          `every request during the outage was served or refused with a proper 503\n${errorLines(svc.output())}`,
        );
        assert.ok(fault.byDesign > 0, 'the outage was felt');
        assert.deepEqual(lost, [], 'every conversation acknowledged with a 201 survived the stop');
        assert.deepEqual(
          recovered.unexpected.concat(recovered.byDesign ? [`${recovered.byDesign} × 503 after readiness returned`] : []),
          [],
          'everything is served once PostgreSQL is back',
        );
      } finally {
        await traffic.stop();
      }
    });
  }

  it('frozen (SIGSTOP, connections left open): 503 within the query bound instead of a hang; serves again once it thaws', async () => {
    const BOUND_MS = STATEMENT_TIMEOUT_MS + 1000 + ACQUIRE_TIMEOUT_MS + 2500;
    const svc = service as ServiceProcess;
    const pgCluster = cluster as PrivatePostgres;
    const [a, b] = clients as [Client, Client, ...Client[]];
    assert.equal((await call(svc.baseUrl, 'GET', '/v1/me', { token: a.token, timeoutMs: HANG_MS })).status, 200);
    pgCluster.freeze();
    const fault = new Tally('postgres frozen');
    try {
      // The session cache may answer /v1/me for up to 1 s: wait it out, then every request needs the database.
      await sleep(1100);
      const answers = await Promise.all([
        call(svc.baseUrl, 'GET', '/v1/me', { token: a.token, timeoutMs: BOUND_MS + 5000 }),
        call(svc.baseUrl, 'GET', '/v1/conversations', { token: b.token, timeoutMs: BOUND_MS + 5000 }),
        call(svc.baseUrl, 'POST', `/v1/conversations/${a.conversationId}/messages`, {
          token: a.token,
          json: { content: 'hello while frozen' },
          timeoutMs: BOUND_MS + 5000,
        }),
        call(svc.baseUrl, 'POST', '/v1/auth/login', { json: { email: b.email, password: PASSWORD }, timeoutMs: BOUND_MS + 5000 }),
      ]);
      for (const answer of answers) {
        fault.add('request while frozen', answer, isServiceUnavailable(answer) && answer.ms <= BOUND_MS ? 'by_design' : 'unexpected');
      }
      console.log(fault.summary({ bound_ms: BOUND_MS }));
      assert.deepEqual(fault.unexpected, [], `every request answered 503 service_unavailable within ${BOUND_MS} ms`);
      assert.equal((await readyz(svc.baseUrl)).status, 503);
    } finally {
      pgCluster.thaw();
    }
    await waitFor('/readyz 200 after the thaw', async () => (await readyz(svc.baseUrl)).status === 200, 15_000);
    await waitFor(
      'requests served after the thaw',
      async () => (await call(svc.baseUrl, 'GET', '/v1/me', { token: a.token, timeoutMs: HANG_MS })).status === 200,
      15_000,
    );
    const list = await call(svc.baseUrl, 'GET', '/v1/conversations', { token: b.token, timeoutMs: HANG_MS });
    assert.equal(list.status, 200);
  });
});

const NEEDS_POSTGRES = await skipUnlessRealPostgres();

describe('the service’s connections terminated on the shared PostgreSQL (pg_terminate_backend)', { skip: NEEDS_POSTGRES }, () => {
  let database: TestDatabase | undefined;
  let service: ServiceProcess | undefined;
  let clients: Client[];
  let admin: pg.Client | undefined;

  before(async () => {
    database = await createTestDatabase();
    service = await spawnService({
      inherit: CHILD_ENV,
      env: serviceEnv({ ...SERVICE_SETTINGS, DATABASE_URL: database.url as string }),
    });
    clients = await prepareClients(service.baseUrl, WORKERS);
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  after(async () => {
    await admin?.end().catch(() => undefined);
    await service?.stop(5000);
    await database?.drop();
  });

  it('replaces killed pool connections: the next requests succeed, or fail cleanly with 503 — never a 500 or a hang', async () => {
    const svc = service as ServiceProcess;
    const dbName = new URL(database?.url as string).pathname.slice(1);
    const fault = new Tally('pg_terminate_backend x5');
    const traffic = startTraffic(svc.baseUrl, clients, () => fault);
    let terminated = 0;
    try {
      for (let round = 0; round < 5; round++) {
        await waitFor(`traffic before round ${round}`, () => fault.served >= 8 * (round + 1), 10_000);
        // application_name 'rampart' is the service's (db.ts default); the test's own pool says 'rampart-test'.
        const r = await (admin as pg.Client).query(
          `select count(*) filter (where pg_terminate_backend(pid)) as n
             from pg_stat_activity where datname = $1 and application_name = 'rampart' and pid <> pg_backend_pid()`,
          [dbName],
        );
        terminated += Number(r.rows[0].n);
      }
      const servedBefore = fault.served;
      await waitFor('traffic served after the last round', () => fault.served >= servedBefore + 4 * WORKERS, 10_000);
    } finally {
      await traffic.stop();
    }
    const ready = await readyz(svc.baseUrl);
    // Audit rows are written behind the request; one whose batch met a killed connection must still arrive.
    let missingAudit: string[] = traffic.logins;
    await waitFor(
      'the audit rows of every acknowledged login',
      async () => {
        missingAudit = await unaudited(database?.url as string, traffic.logins);
        return missingAudit.length === 0;
      },
      5000,
      250,
    ).catch(() => undefined);
    console.log(fault.summary({ connections_terminated: terminated, logins: traffic.logins.length, login_audit_rows_lost: missingAudit.length }));
    assert.ok(terminated >= 5, `the service's connections were terminated (${terminated})`);
    assert.deepEqual(fault.unexpected, [], `no 500, no hang, no other failure\n${errorLines(svc.output())}`);
    assert.equal(ready.status, 200);
    assert.deepEqual(missingAudit, [], 'no audit row lost to a killed connection');
  });
});
