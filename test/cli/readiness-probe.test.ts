import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { applyRoles } from '../../cli/src/lib/db-roles/apply.js';
import { createContext } from '../../cli/src/lib/context.js';
import { openConfiguredDatabase } from '../../cli/src/lib/database.js';
import { CliError } from '../../cli/src/lib/errors.js';
import { createReporter } from '../../cli/src/lib/output.js';
import { probeAccountChecks } from '../../cli/src/lib/readiness/probe/command.js';
import { main } from '../../cli/src/main.js';
import type { CheckResult } from '../../cli/src/lib/readiness/http.js';
import { PROBE_CHECK_IDS, PROBE_OPERATOR, type ProbeOptions, probeChecks } from '../../cli/src/lib/readiness/probe.js';
import { PROBE_USER_AGENT } from '../../cli/src/lib/readiness/probe/client.js';
import { createDatabase, type Database } from '../../service/src/public/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { dropTestRoles, testRoles } from '../helpers/db-roles.js';
import { redisUnderPrefix } from '../helpers/prefixed-redis.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../helpers/production-env.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { realPostgresAvailable, testRedisUrl } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer, tokenFromMail } from '../helpers/smtp-server.js';
import { waitFor } from '../helpers/wait.js';
import { captureIo } from './capture.js';

/**
 * `secops readiness --probe-account`'s active tier (cli/src/lib/readiness/probe.ts) against the real
 * service in production mode: PostgreSQL, Redis, an SMTP relay. Two services on one database: a
 * correct deployment, and one with verification off, the lockout off and a weak PASSWORD_MIN_LENGTH.
 * The probe reads and writes the database as the service's least-privilege role.
 */

const ROLES = testRoles('rp');
const REDIS_URL = testRedisUrl();
const byId = (results: CheckResult[], id: string) => results.find((r) => r.id === id);
const show = (results: CheckResult[]) => results.map((r) => `${r.status} ${r.id}: ${r.evidence}`).join('\n');

describe('secops readiness --probe-account against the real service', {
  skip: !(await realPostgresAvailable()) && 'needs PostgreSQL (REQUIRE_SERVICES=1)',
}, () => {
  const redis = REDIS_URL ? redisUnderPrefix(REDIS_URL, 'readiness-probe') : undefined;
  let database: TestDatabase;
  let probeDb: Database;
  let smtp: TestSmtpServer;
  let good: ServiceProcess;
  let broken: ServiceProcess;
  /** The correct deployment's run, shared by the tests that read what it did. */
  let goodRun: CheckResult[];

  const probe = (service: ServiceProcess, extra: Partial<ProbeOptions> = {}) =>
    probeChecks({ url: new URL(service.baseUrl), timeoutMs: 10_000, database: probeDb, refreshReuseGraceSeconds: 1, ...extra });

  before(async () => {
    database = await createTestDatabase();
    await applyRoles(database.db.knex, ROLES.layout, { dryRun: false });
    const roleUrl = new URL(database.url as string);
    roleUrl.username = ROLES.users[0];
    roleUrl.password = '';
    probeDb = createDatabase({ url: roleUrl.toString(), poolMax: 2, acquireTimeoutMs: 10_000, statementTimeoutMs: 30_000 });
    smtp = await startSmtpServer();
    const common = {
      NODE_ENV: 'production',
      ...PRODUCTION_ACCOUNT_SETTINGS,
      MAIL_URL: smtp.mailUrl,
      MAIL_CA_FILE: smtp.caFile,
      DATABASE_URL: database.url as string,
      MIGRATE_ON_START: 'false',
      JWT_SECRET: randomBytes(64).toString('base64url'),
      SHUTDOWN_DELAY_MS: '0',
      // The reuse check waits one second past the grace window: 2 s here instead of 11.
      REFRESH_REUSE_GRACE_SECONDS: '1',
      // Headroom for the real user's requests and the second run from the same address.
      RATE_LIMIT_LOGIN_PER_MINUTE: '20',
      RATE_LIMIT_AUTH_PER_MINUTE: '60',
    };
    [good, broken] = await Promise.all([
      spawnService({ env: { ...common, ...(redis ? { REDIS_URL: REDIS_URL as string, REDIS_KEY_PREFIX: redis.prefix } : {}) } }),
      spawnService({ env: { ...common, EMAIL_VERIFICATION: 'off', LOGIN_MAX_FAILURES: '1000', PASSWORD_MIN_LENGTH: '8' } }),
    ]);
  });

  after(async () => {
    await Promise.all([good?.stop(), broken?.stop()]);
    await smtp?.close();
    await probeDb?.close();
    if (database?.url) await dropTestRoles(database.url, ROLES, () => database.drop());
    else await database?.drop();
  });

  it('passes every probe check against a correct deployment, and a real user at the same domain signs in during and after it', async () => {
    // A real account at the probe's domain, verified through its mail as a person would.
    const email = `real-user-${randomBytes(4).toString('hex')}@example.invalid`;
    const password = `real user ${randomBytes(8).toString('hex')} Password!`;
    const post = (path: string, json: unknown) =>
      fetch(new URL(path, good.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(json),
      });
    assert.equal((await post('/v1/auth/signup', { email, password })).status, 202);
    const token = tokenFromMail(await smtp.waitForMail({ to: email }), `${PRODUCTION_ACCOUNT_SETTINGS.APP_URL}/verify-email`);
    assert.equal((await post('/v1/auth/verify-email', { token })).status, 200);

    const knex = database.db.knex;
    const running = probe(good);
    // While the probe's own (email, IP) pair is locked, the real user signs in from the same address.
    await waitFor(
      'the probe’s lockout',
      async () =>
        (await knex('audit_events').where({ type: 'login_locked_out', user_agent: PROBE_USER_AGENT }).first()) !== undefined,
      60_000,
    );
    const during = await post('/v1/auth/login', { email, password });
    goodRun = await running;
    const afterwards = await post('/v1/auth/login', { email, password });

    assert.deepEqual(
      goodRun.map((r) => r.id),
      PROBE_CHECK_IDS,
    );
    assert.deepEqual(
      goodRun.filter((r) => r.status !== 'passed'),
      [],
      show(goodRun),
    );
    assert.equal(during.status, 200, 'the real user signs in while the probe is locked out');
    assert.equal(afterwards.status, 200, 'the real user signs in after the probe');
    for (const r of goodRun) {
      assert.ok(r.title && r.evidence, JSON.stringify(r));
      // No JWT, refresh, device or one-time token (43+ base64url characters) in the evidence.
      assert.doesNotMatch(r.evidence, /eyJ[A-Za-z0-9_-]{10,}|[A-Za-z0-9_-]{43,}/, r.id);
    }
    assert.match(byId(goodRun, 'probe.signup')?.evidence ?? '', /→ 202, status "verification_sent"/);
    assert.match(
      byId(goodRun, 'probe.email-validation')?.evidence ?? '',
      /without @ → 400 invalid_email; signed up as Readiness-Probe\+[0-9a-f]{12}@EXAMPLE\.INVALID → stored as readiness-probe\+[0-9a-f]{12}@example\.invalid$/,
    );
    assert.match(
      byId(goodRun, 'probe.lockout')?.evidence ?? '',
      /^5 wrong password\(s\) without a device token → 401 invalid_credentials, .*; the right password without a device token → 429 too_many_attempts \(Retry-After: \d+\); the right password with the probe’s device token, sent \d+ ms later → 200 mfa_required/,
    );
    assert.match(
      byId(goodRun, 'probe.refresh-reuse')?.evidence ?? '',
      /the old refresh token → 401 refresh_token_reused; its successor then → 401/,
    );
    assert.match(byId(goodRun, 'probe.user-limits')?.evidence ?? '', /RateLimit-Policy: "user";q=300;w=60/);
    assert.match(byId(goodRun, 'probe.body-limit')?.evidence ?? '', /Content-Length 262145 .* → 413 payload_too_large$/);
  });

  it('leaves no user, session, token, device, conversation or MFA row behind: only audit rows that name the probe', async () => {
    assert.ok(goodRun, 'runs after the correct deployment’s probe');
    const cleanup = byId(goodRun, 'probe.cleanup')?.evidence ?? '';
    const userId = /^user ([0-9a-f-]{36}) deleted/.exec(cleanup)?.[1];
    assert.ok(userId, cleanup);
    assert.match(cleanup, /had \d+ session\(s\), 1 conversation\(s\)/);
    const knex = database.db.knex;
    const count = async (sql: string, bindings: string[]) => Number((await knex.raw(sql, bindings)).rows[0].n);
    assert.equal(await count(`select count(*)::int as n from users where email like 'readiness-probe+%'`, []), 0);
    for (const table of ['sessions', 'conversations', 'device_tokens', 'account_tokens', 'mfa_totp', 'mfa_recovery_codes']) {
      assert.equal(await count(`select count(*)::int as n from ${table} where user_id = ?`, [userId]), 0, table);
    }
    const rows = (await knex('audit_events')
      .select('type', 'user_agent', 'client_request_id', 'details')
      .where({ user_id: userId })) as {
      type: string;
      user_agent: string | null;
      client_request_id: string | null;
      details: Record<string, unknown>;
    }[];
    const deletion = rows.find((r) => r.type === 'operator_user_deleted');
    assert.equal(deletion?.details.operator, PROBE_OPERATOR);
    assert.equal(rows.find((r) => r.type === 'operator_verification_token_issued')?.details.operator, PROBE_OPERATOR);
    // What the service wrote for the probe's requests carries the probe's User-Agent.
    for (const type of ['signup_succeeded', 'login_succeeded', 'login_failed', 'login_locked_out']) {
      const row = rows.find((r) => r.type === type);
      assert.ok(row, `${type} row kept`);
    }
    assert.ok(rows.filter((r) => r.type.startsWith('login_')).every((r) => r.user_agent === PROBE_USER_AGENT));
    // …and the run's X-Request-Id, which also finds the refused signups (they name no user).
    const prefix = /^readiness-probe-[0-9a-f]{12}-/.exec(
      rows.find((r) => r.type === 'signup_succeeded')?.client_request_id ?? '',
    )?.[0];
    assert.ok(prefix, 'the signup row carries the probe’s X-Request-Id');
    const refused = (await knex('audit_events')
      .select(knex.raw("details->>'reason' as reason"))
      .where({ type: 'signup_failed' })
      .andWhere('client_request_id', 'like', `${prefix}%`)) as { reason: string }[];
    assert.deepEqual(refused.map((r) => r.reason).sort(), ['invalid_email', 'weak_password']);
    assert.match(byId(goodRun, 'probe.audit')?.evidence ?? '', /signup_failed weak_password 1/);
  });

  it('stays within its documented request budget (at most 8 logins, 3 signups, 21 requests to /v1/auth/*, 55 in all)', () => {
    assert.ok(goodRun, 'runs after the correct deployment’s probe');
    const m = /the probe sent (\d+) request\(s\): (\d+) to \/v1\/auth\/\* \((\d+) login, (\d+) signup, (\d+) refresh\)$/.exec(
      byId(goodRun, 'probe.cleanup')?.evidence ?? '',
    );
    assert.ok(m, byId(goodRun, 'probe.cleanup')?.evidence);
    const [total, auth, login, signup] = m.slice(1, 5).map(Number) as [number, number, number, number];
    assert.ok(login <= 8, `${login} logins`);
    assert.ok(signup <= 3, `${signup} signups`);
    assert.ok(auth <= 21, `${auth} auth requests`);
    assert.ok(total <= 55, `${total} requests`);
  });

  it('turns exactly the broken items [ ] on a deployment with verification off, the lockout off and PASSWORD_MIN_LENGTH=8', async () => {
    const results = await probe(broken);
    const failed = results.filter((r) => r.status === 'failed');
    assert.deepEqual(
      failed.map((r) => r.id).sort(),
      ['probe.email-verification', 'probe.lockout', 'probe.password-policy'],
      show(results),
    );
    assert.match(
      byId(results, 'probe.password-policy')?.evidence ?? '',
      /^POST \/v1\/auth\/signup with an 11-character random password → 201: passwords under 12 characters are accepted/,
    );
    assert.match(
      byId(results, 'probe.email-verification')?.evidence ?? '',
      /^signup → 201 with tokens: a new account uses the API before its address is verified \(EMAIL_VERIFICATION=off/,
    );
    assert.match(
      byId(results, 'probe.lockout')?.evidence ?? '',
      /^5 wrong password\(s\) without a device token → (401 invalid_credentials, ){4}401 invalid_credentials; the right password without a device token → 200: no lock after 5 failures/,
    );
    assert.equal(byId(results, 'probe.cleanup')?.status, 'passed', show(results));
  });

  it('turns [ ] the items of a deployment whose logout, refresh-reuse detection, per-user limit and audit trail are broken', async (t) => {
    // A gateway in front of the correct service that undoes four behaviours: logout answers 204 without
    // reaching the service; a refresh token's third use is refused before the service can see it as
    // reuse; authenticated answers lose their RateLimit headers; and audit_events takes no rows.
    const uses = new Map<string, number>();
    const upstream = new URL(good.baseUrl);
    const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) => {
      const forwarded = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          const headers = { ...answer.headers };
          if (req.headers.authorization) for (const h of ['ratelimit-policy', 'ratelimit']) delete headers[h];
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      // The service answers an oversized body (413) and closes: its answer goes through all the same.
      forwarded.on('error', () => {
        if (!res.headersSent) res.destroy();
      });
      res.on('close', () => forwarded.destroy());
      if (body) forwarded.end(body);
      else req.pipe(forwarded);
    };
    const gateway = http.createServer((req, res) => {
      req.on('error', () => res.destroy());
      // An oversized body is refused here, as an ingress would (relaying one the service cuts short is not this test's subject).
      if (Number(req.headers['content-length'] ?? 0) > 256 * 1024) {
        res.writeHead(413, { 'content-type': 'application/problem+json', connection: 'close' });
        res.end(JSON.stringify({ status: 413, code: 'payload_too_large' }));
        return;
      }
      if (req.method === 'POST' && req.url === '/v1/auth/logout') {
        req.resume();
        res.writeHead(204).end();
        return;
      }
      if (req.method !== 'POST' || req.url !== '/v1/auth/refresh') return forward(req, res);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const token = String((JSON.parse(body.toString() || '{}') as { refresh_token?: unknown }).refresh_token);
        const n = (uses.get(token) ?? 0) + 1;
        uses.set(token, n);
        if (n > 2) {
          res
            .writeHead(401, { 'content-type': 'application/problem+json' })
            .end(JSON.stringify({ status: 401, code: 'invalid_refresh_token' }));
          return;
        }
        forward(req, res, body);
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      gateway.closeAllConnections();
      return new Promise((resolve) => gateway.close(resolve));
    });
    const knex = database.db.knex;
    await knex.raw('create function readiness_drop_audit() returns trigger language plpgsql as $$ begin return null; end $$');
    await knex.raw(
      'create trigger readiness_drop_audit before insert on audit_events for each row execute function readiness_drop_audit()',
    );
    t.after(async () => {
      await knex.raw('drop trigger if exists readiness_drop_audit on audit_events');
      await knex.raw('drop function if exists readiness_drop_audit()');
    });

    const results = await probeChecks({
      url: new URL(`http://127.0.0.1:${(gateway.address() as AddressInfo).port}`),
      timeoutMs: 10_000,
      database: probeDb,
      refreshReuseGraceSeconds: 1,
    });
    const failed = results.filter((r) => r.status === 'failed').map((r) => r.id);
    // The stripped headers also take the authenticated side of the auth-vs-rest comparison away, and the
    // audit rows the cleanup expects (the deletion's own) are gone with the rest.
    assert.deepEqual(
      failed.sort(),
      ['probe.audit', 'probe.cleanup', 'probe.endpoint-limits', 'probe.logout', 'probe.refresh-reuse', 'probe.user-limits'],
      show(results),
    );
    assert.match(
      byId(results, 'probe.refresh-reuse')?.evidence ?? '',
      /the old refresh token → 401 invalid_refresh_token; its successor then → 200$/,
    );
    assert.match(byId(results, 'probe.cleanup')?.evidence ?? '', /0 rows in users, sessions, refresh_tokens/);
    assert.match(byId(results, 'probe.logout')?.evidence ?? '', /^POST \/v1\/auth\/logout → 204; its refresh token then → 200/);
    assert.match(byId(results, 'probe.audit')?.evidence ?? '', /missing: signup_succeeded \(≥ 1\)/);
    assert.match(byId(results, 'probe.user-limits')?.evidence ?? '', /RateLimit/);
  });

  it('deletes the account when the run is interrupted, and says which checks did not run', async () => {
    const controller = new AbortController();
    const knex = database.db.knex;
    const running = probe(broken, { signal: controller.signal });
    await waitFor(
      'the probe’s account',
      async () => (await knex('users').where('email', 'like', 'readiness-probe+%').first()) !== undefined,
      30_000,
    );
    controller.abort();
    const results = await running;
    assert.equal(byId(results, 'probe.cleanup')?.status, 'passed', show(results));
    assert.ok(
      results.some((r) => r.status === 'failed' && /^interrupted \(SIGINT\/SIGTERM\) before this check$/.test(r.evidence)),
      show(results),
    );
    assert.equal((await knex('users').where('email', 'like', 'readiness-probe+%')).length, 0);
  });

  it('secops readiness --probe-account refuses to run without the database (exit 2), and --probe-domain without --probe-account', async () => {
    const run = async (args: string[]) => {
      const io = captureIo({});
      return { code: await main(['readiness', '--url', good.baseUrl, ...args], io.io), stderr: io.stderr() };
    };
    const noDatabase = await run(['--probe-account']);
    assert.equal(noDatabase.code, 2, noDatabase.stderr);
    assert.match(noDatabase.stderr, /--probe-account needs the production database \(--database-url or DATABASE_URL\)/);
    const domainAlone = await run(['--probe-domain', 'probes.example.com']);
    assert.equal(domainAlone.code, 2, domainAlone.stderr);
    assert.match(domainAlone.stderr, /--probe-domain needs --probe-account/);
    const badDomain = await run(['--probe-account', '--probe-domain', 'not a domain']);
    assert.equal(badDomain.code, 2, badDomain.stderr);
    assert.match(badDomain.stderr, /--probe-domain: not a domain name: not a domain/);
  });

  it('says which rows remain and the command that removes them when the deletion fails, and that command removes them', async () => {
    // The backup role reads every table and writes none: the probe's deletion is refused.
    const readOnlyUrl = new URL(database.url as string);
    readOnlyUrl.username = ROLES.backup;
    readOnlyUrl.password = '';
    const readOnly = createDatabase({
      url: readOnlyUrl.toString(),
      poolMax: 2,
      acquireTimeoutMs: 10_000,
      statementTimeoutMs: 30_000,
    });
    const knex = database.db.knex;
    try {
      const results = await probe(broken, { database: readOnly });
      const cleanup = byId(results, 'probe.cleanup');
      assert.equal(cleanup?.status, 'failed', show(results));
      assert.equal(byId(results, 'probe.audit')?.status, 'passed', 'the audit rows are read with SELECT alone');
      const m =
        /^deleting (readiness-probe\+[0-9a-f]{12}@example\.invalid) failed: .*permission denied.*; rows remain: users 1, sessions \d+, (refresh_tokens \d+, )?device_tokens \d+, (account_tokens \d+, )?conversations 1, mfa_totp 1, mfa_recovery_codes 10; remove it with: secops users delete --email (\S+) --reason "readiness probe" --yes;/.exec(
          cleanup?.evidence ?? '',
        );
      assert.ok(m, cleanup?.evidence);
      assert.equal(m[4], m[1]);
      // The command the evidence names, as an operator with the service's role runs it.
      const roleUrl = new URL(database.url as string);
      roleUrl.username = ROLES.users[0];
      roleUrl.password = '';
      const io = captureIo({});
      const code = await main(
        [
          '--database-url',
          roleUrl.toString(),
          'users',
          'delete',
          '--email',
          m[1] as string,
          '--reason',
          'readiness probe',
          '--yes',
        ],
        io.io,
      );
      assert.equal(code, 0, io.stderr());
      assert.equal((await knex('users').where({ email: m[1] })).length, 0);
    } finally {
      await knex('users').where('email', 'like', 'readiness-probe+%').delete();
      await readOnly.close();
    }
  });

  it('Ctrl-C during secops readiness --probe-account deletes the account, then ends with exit 1 and the cleanup’s evidence', async () => {
    const roleUrl = new URL(database.url as string);
    roleUrl.username = ROLES.users[0];
    roleUrl.password = '';
    const io = captureIo({ REFRESH_REUSE_GRACE_SECONDS: '1' });
    const ctx = createContext(io.io, { json: true, databaseUrl: roleUrl.toString() }, openConfiguredDatabase);
    const knex = database.db.knex;
    const before = new Set(process.listeners('SIGINT'));
    const running = probeAccountChecks(ctx, createReporter(ctx), { url: new URL(broken.baseUrl), timeoutMs: 10_000 });
    await waitFor(
      'the probe’s account',
      async () => (await knex('users').where('email', 'like', 'readiness-probe+%').first()) !== undefined,
      30_000,
    );
    // What the signal would run: the command's own SIGINT listener (not the test runner's).
    const added = process.listeners('SIGINT').filter((l) => !before.has(l));
    assert.equal(added.length, 1);
    (added[0] as () => void)();
    await assert.rejects(running, (err: unknown) => {
      assert.ok(err instanceof CliError);
      assert.equal(err.exitCode, 1);
      assert.match(
        err.message,
        /^readiness: interrupted; probe cleanup passed: user [0-9a-f-]{36} deleted through the operator deletion/,
      );
      return true;
    });
    assert.equal((await knex('users').where('email', 'like', 'readiness-probe+%')).length, 0);
    assert.deepEqual(new Set(process.listeners('SIGINT')), before, 'the listener is removed');
  });
});
