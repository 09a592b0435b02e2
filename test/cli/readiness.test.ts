import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyRoles } from '../../cli/src/lib/db-roles/apply.js';
import { dropTestRoles, testRoles } from '../helpers/db-roles.js';
import { main } from '../../cli/src/main.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { realPostgresAvailable } from '../helpers/services.js';
import { captureIo } from './capture.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../helpers/production-env.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { mailOutboxDatabaseCheck } from '../../cli/src/lib/readiness/mail.js';

interface Item {
  id: string;
  section: string;
  title: string;
  status: 'passed' | 'failed' | 'manual';
  evidence: string;
}
interface Report {
  ok: boolean;
  items: Item[];
}

const AUTOMATED = [
  'headers.hsts',
  'headers.csp',
  'headers.x-content-type-options',
  'headers.x-frame-options',
  'headers.referrer-policy',
  'headers.permissions-policy',
  'headers.no-x-powered-by',
  'api.cache-control',
  'api.error-format',
  'api.content-type',
  'api.body-limit',
  'rate-limit.headers',
  'jwt.algorithm',
  'version.git-sha',
  'runtime.currency',
  'metrics.present',
  'mail.configured',
  'mail.outbox',
  'db.role',
  'db.migrations',
  'backup.drill',
];


/** Roles are cluster-wide: this run's own names (the service's user is a member of RUNTIME_ROLE). */
const ROLE_SUFFIX = randomBytes(4).toString('hex');
const ROLES = testRoles('rr');
const RUNTIME_ROLE = ROLES.runtime;

async function readiness(args: string[]) {
  const captured = captureIo({});
  const code = await main(['--json', 'readiness', '--runtime-role', RUNTIME_ROLE, ...args], captured.io);
  const stdout = captured.stdout();
  return { code, stderr: captured.stderr(), report: stdout ? (JSON.parse(stdout) as Report) : undefined };
}

const byId = (report: Report | undefined, id: string) => report?.items.find((i) => i.id === id);

describe('secops readiness against the real service', {
  skip: !(await realPostgresAvailable()) && 'needs PostgreSQL (REQUIRE_SERVICES=1)',
}, () => {
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  let smtp: TestSmtpServer | undefined;
  let base: string;
  let metrics: string;
  let proxy: http.Server | undefined;
  let proxyBase: string;
  const role = ROLES.users[0];
  let roleUrl: string;
  const backupDir = mkdtempSync(join(tmpdir(), 'rampart-readiness-'));

  before(async () => {
    database = await createTestDatabase();
    const dbUrl = database.url as string;
    // The service's least-privilege user, as `secops db roles apply` makes it.
    await applyRoles(database.db.knex, ROLES.layout, { dryRun: false });
    const u = new URL(dbUrl);
    u.username = role;
    u.password = '';
    roleUrl = u.toString();

    // A passing drill report where `secops backup drill` writes it.
    mkdirSync(join(backupDir, '20261127T000000Z'));
    writeFileSync(
      join(backupDir, 'drill-20261127T000000Z.json'),
      JSON.stringify({
        ok: true,
        finishedAt: new Date(Date.now() - 3_600_000).toISOString(),
        backup: { id: '20261127T000000Z' },
        failures: [],
      }),
    );

    // A relay as production has one: STARTTLS, AUTH, a certificate trusted through MAIL_CA_FILE.
    smtp = await startSmtpServer();
    service = await spawnService({
      env: {
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
        MAIL_URL: smtp.mailUrl,
        MAIL_CA_FILE: smtp.caFile,
        // Verification off: --signup-probe decodes the token of a fresh signup.
        EMAIL_VERIFICATION: 'off',
        DATABASE_URL: dbUrl,
        MIGRATE_ON_START: 'false',
        JWT_SECRET: randomBytes(64).toString('base64url'),
        GIT_SHA: randomBytes(20).toString('hex'),
        SHUTDOWN_DELAY_MS: '0',
        LOG_LEVEL: 'info',
      },
    });
    base = service.baseUrl;
    metrics = service.metricsUrl;
    const listening = { port: Number(new URL(base).port) };

    // A proxy in front of the service that drops Strict-Transport-Security.
    proxy = http.createServer((req, res) => {
      const upstream = http.request(
        { host: '127.0.0.1', port: listening.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          const headers = { ...up.headers };
          delete headers['strict-transport-security'];
          res.writeHead(up.statusCode ?? 502, headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      req.pipe(upstream);
      upstream.flushHeaders();
    });
    await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
    proxyBase = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  after(async () => {
    if (proxy) {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy?.close(resolve));
    }
    await service?.stop();
    await smtp?.close();
    if (database?.url) await dropTestRoles(database.url, ROLES, () => database.drop());
    else await database?.drop();
    rmSync(backupDir, { recursive: true, force: true });
  });

  it('verifies every automated item and exits 0 with a least-privilege role', async () => {
    // mail.configured wants this replica to have handed a mail to the relay: a signup mails its link.
    const email = `readiness-mail-${ROLE_SUFFIX}@example.com`;
    const signup = await fetch(`${base}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: `readiness ${randomBytes(8).toString('hex')} Mail!` }),
    });
    assert.equal(signup.status, 201, await signup.text());
    await smtp?.waitForMail({ to: email });
    for (let i = 0; !/^mail_sent_total\{[^}]*outcome="sent"[^}]*\} [1-9]/m.test(await (await fetch(metrics)).text()); i++) {
      assert.ok(i < 100, 'mail_sent_total{outcome="sent"} never rose');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const { code, stderr, report } = await readiness([
      '--url',
      base,
      '--metrics-url',
      metrics,
      '--database-url',
      roleUrl,
      '--backup-dir',
      backupDir,
    ]);
    assert.ok(report, stderr);
    const failed = report.items.filter((i) => i.status === 'failed');
    assert.deepEqual(failed, [], stderr);
    assert.equal(code, 0, stderr);
    assert.equal(report.ok, true);
    for (const id of AUTOMATED) assert.equal(byId(report, id)?.status, 'passed', `${id}: ${JSON.stringify(byId(report, id))}`);
    // Plain http: the refusal of plain HTTP can only be checked at the ingress.
    assert.equal(byId(report, 'tls.plain-http')?.status, 'manual');
    assert.ok(report.items.some((i) => i.status === 'manual' && i.id.startsWith('manual.')));
    for (const item of report.items) {
      assert.ok(item.id && item.section && item.title && item.evidence, JSON.stringify(item));
    }
    assert.match(byId(report, 'db.role')?.evidence ?? '', new RegExp(role));
    assert.match(byId(report, 'mail.configured')?.evidence ?? '', /^1 sent, 0 failed and retried, 0 dead-lettered by this replica since it started/);
    // With a database the outbox item is the table's view (it replaces the metrics' one).
    assert.match(byId(report, 'mail.outbox')?.evidence ?? '', /^0 mail\(s\) waiting, .*; 0 dead letter\(s\) in the last 24h00m, 0 kept in all; 1 sent in the last 24h00m \(mail_outbox\)$/);
  });

  it('mail.outbox fails on a mail waiting over 15 minutes and on a recent dead letter, not on the signup probe\'s', async () => {
    const knex = database.db.knex;
    const row = {
      template: 'reset_password',
      subject: 'Reset your password',
      message_id: `<readiness-${ROLE_SUFFIX}@rampart.test>`,
    };
    const ids = (
      await knex('mail_outbox')
        .insert([
          // Backing off (its next try is in 30 minutes), written 20 minutes ago: the sender leaves it be.
          { ...row, to_address: 'late@example.com', text_body: 'link', html_body: 'link', status: 'pending', attempts: 6, created_at: new Date(Date.now() - 20 * 60_000), next_attempt_at: new Date(Date.now() + 30 * 60_000), last_error: 'ECONNREFUSED' },
          { ...row, to_address: 'gone@example.com', status: 'dead', attempts: 8, next_attempt_at: new Date(Date.now() - 3_600_000), last_error: 'EENVELOPE 550 after RCPT TO' },
          { ...row, template: 'verify_email', to_address: 'secops-readiness-x@example.invalid', status: 'dead', attempts: 8, next_attempt_at: new Date(Date.now() - 3_600_000), last_error: 'EENVELOPE 550 after RCPT TO' },
        ])
        .returning('id')
    ).map((r: { id: string }) => r.id);
    try {
      const { code, stderr, report } = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl]);
      assert.equal(code, 1, stderr);
      const item = byId(report, 'mail.outbox');
      assert.equal(item?.status, 'failed', JSON.stringify(item));
      assert.match(item?.evidence ?? '', /1 mail\(s\) waiting, the oldest 20m\d\ds old, 1 over 15m00s/);
      assert.match(item?.evidence ?? '', /1 dead letter\(s\) in the last 24h00m \(and 1 to \.invalid probe addresses, not counted\), 2 kept in all/);
      assert.match(item?.evidence ?? '', /mail is not draining \(runbooks\/RampartMailOutboxStuck\.md\); recent dead letters \(runbooks\/RampartMailDeadLetters\.md\)$/);
      assert.doesNotMatch(item?.evidence ?? '', /example\.(com|invalid)/, 'no address in the evidence');
      assert.deepEqual(report?.items.filter((i) => i.status === 'failed').map((i) => i.id), ['mail.outbox']);
    } finally {
      await knex('mail_outbox').whereIn('id', ids).delete();
    }
  });

  it('runtime.currency: passes on the live Node 26 and the Node 26 / Debian 13 image, fails on an image of Debian 12', async () => {
    const passing = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl]);
    const item = byId(passing.report, 'runtime.currency');
    assert.equal(item?.status, 'passed', JSON.stringify(item));
    assert.match(item?.evidence ?? '', new RegExp(`Node 26 \\(live /version ${process.version.replaceAll('.', '\\.')}\\): supported until 2029-04-30`));
    assert.match(item?.evidence ?? '', /Debian 13 \(trixie\) \(Dockerfile line \d+ \(stage deps\)\): supported/);

    const bookworm = join(backupDir, 'Dockerfile.bookworm');
    writeFileSync(bookworm, `FROM node:26-bookworm-slim@sha256:${'b'.repeat(64)} AS runtime\n`);
    const failing = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl, '--dockerfile', bookworm]);
    assert.equal(failing.code, 1, failing.stderr);
    assert.equal(byId(failing.report, 'runtime.currency')?.status, 'failed');
    assert.match(byId(failing.report, 'runtime.currency')?.evidence ?? '', /Debian 12 \(bookworm\).*reached end of life on 2026-07-11/);
  });

  it('fails the DB-role item as the superuser postgres (exit 1)', async () => {
    const { code, stderr, report } = await readiness([
      '--url',
      base,
      '--metrics-url',
      metrics,
      '--database-url',
      database.url as string,
    ]);
    assert.equal(code, 1, stderr);
    assert.equal(report?.ok, false);
    assert.equal(byId(report, 'db.role')?.status, 'failed');
    assert.match(byId(report, 'db.role')?.evidence ?? '', /SUPERUSER/);
    assert.match(stderr, /db\.role/);
    assert.deepEqual(
      report?.items.filter((i) => i.status === 'failed').map((i) => i.id),
      ['db.role'],
    );
    assert.doesNotMatch(stderr, /postgres:\/\/postgres@/);
  });

  it('fails the HSTS item when a proxy strips Strict-Transport-Security (exit 1)', async () => {
    const { code, stderr, report } = await readiness(['--url', proxyBase, '--metrics-url', metrics, '--database-url', roleUrl]);
    assert.equal(code, 1, stderr);
    assert.equal(byId(report, 'headers.hsts')?.status, 'failed');
    assert.match(byId(report, 'headers.hsts')?.evidence ?? '', /absent/);
    assert.match(stderr, /headers\.hsts/);
    assert.deepEqual(
      report?.items.filter((i) => i.status === 'failed').map((i) => i.id),
      ['headers.hsts'],
    );
  });

  it('--signup-probe decodes a real access token header', async () => {
    const { code, stderr, report } = await readiness(['--url', base, '--signup-probe']);
    assert.equal(code, 0, stderr);
    assert.equal(byId(report, 'jwt.algorithm')?.status, 'passed');
    assert.match(byId(report, 'jwt.algorithm')?.evidence ?? '', /alg=HS256 typ=at\+jwt/);
    // Without a database or --metrics-url those items are manual, not failures.
    assert.equal(byId(report, 'db.role')?.status, 'manual');
    assert.equal(byId(report, 'metrics.present')?.status, 'manual');
  });

  it('prints the checklist as text with [x], [ ] and [manual]', async () => {
    const captured = captureIo({});
    const code = await main(['readiness', '--url', proxyBase, '--database-url', roleUrl], captured.io);
    assert.equal(code, 1);
    const text = captured.stdout();
    assert.match(text, /## 1\. Security \/ Auth/);
    assert.match(text, /\[x\] .*\(headers\.csp\)/);
    assert.match(text, /\[ \] .*\(headers\.hsts\)/);
    assert.match(text, /\[manual\] .*\(metrics\.present\)/);
  });
});

describe('secops readiness: the runtime a service reports', () => {
  it('fails runtime.currency when /version reports a Node line past its end of life, and when it reports none', async (t) => {
    let nodeVersion: string | undefined = 'v20.20.2';
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(req.url === '/version' ? JSON.stringify({ version: '0.1.0', git_sha: 'a'.repeat(40), built_at: '2026-01-01T00:00:00Z', node_version: nodeVersion }) : '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const old = await readiness(['--url', url, '--timeout', '2s']);
    assert.equal(old.code, 1);
    const item = byId(old.report, 'runtime.currency');
    assert.equal(item?.status, 'failed');
    assert.match(item?.evidence ?? '', /Node 20 \(Iron\) \(live \/version v20\.20\.2\): reached end of life on 2026-04-30/);

    nodeVersion = undefined;
    const none = await readiness(['--url', url, '--timeout', '2s']);
    assert.equal(byId(none.report, 'runtime.currency')?.status, 'failed');
    assert.match(byId(none.report, 'runtime.currency')?.evidence ?? '', /node_version=null: no Node version to check/);
  });
});

describe('secops readiness: the mail items', () => {
  /** The metrics listener's text: the mail families, with the samples given. */
  const exposition = (samples: { sent?: number; retry?: number; dead?: number; pending?: number; deadKept?: number; oldest?: number }) =>
    [
      '# HELP mail_sent_total Mail send attempts from the outbox.',
      '# TYPE mail_sent_total counter',
      ...(['sent', 'retry', 'dead'] as const)
        .filter((outcome) => samples[outcome] !== undefined)
        .map((outcome) => `mail_sent_total{template="verify_email",outcome="${outcome}"} ${samples[outcome]}`),
      '# TYPE mail_suppressed_total counter',
      '# TYPE mail_outbox_pending gauge',
      `mail_outbox_pending ${samples.pending ?? 0}`,
      '# TYPE mail_outbox_dead gauge',
      `mail_outbox_dead ${samples.deadKept ?? 0}`,
      '# TYPE mail_outbox_oldest_age_seconds gauge',
      `mail_outbox_oldest_age_seconds ${samples.oldest ?? 0}`,
      '',
    ].join('\n');

  // A stand-in for the service: its metrics listener serves `body`; everything else answers {}.
  let body = '';
  let url = '';
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', req.url === '/metrics' ? 'text/plain; version=0.0.4' : 'application/json');
    res.end(req.url === '/metrics' ? body : '{}');
  });
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  /** The two mail items of a run against the stand-in serving `metricsBody` (no database). */
  async function mailItems(metricsBody: string | undefined) {
    body = metricsBody ?? '';
    const { report } = await readiness(['--url', url, '--timeout', '2s', ...(metricsBody === undefined ? [] : ['--metrics-url', `${url}/metrics`])]);
    return { configured: byId(report, 'mail.configured'), outbox: byId(report, 'mail.outbox') };
  }

  it('mail.configured: passed once this replica sent mail, failed when every try failed, manual when none was tried', async () => {
    const sent = await mailItems(exposition({ sent: 3, retry: 1 }));
    assert.equal(sent.configured?.status, 'passed', JSON.stringify(sent.configured));
    assert.match(sent.configured?.evidence ?? '', /^3 sent, 1 failed and retried, 0 dead-lettered by this replica since it started \(mail_sent_total\): the relay accepts its mail$/);
    assert.equal(sent.configured?.section, '6. Networking / Infra');

    const failing = await mailItems(exposition({ retry: 4, dead: 1, pending: 2, oldest: 300 }));
    assert.equal(failing.configured?.status, 'failed');
    assert.match(failing.configured?.evidence ?? '', /0 sent, 4 failed and retried, 1 dead-lettered .*every try failed — the relay is unreachable or refuses \(runbooks\/mail-delivery\.md, step 4\)/);

    const untried = await mailItems(exposition({}));
    assert.equal(untried.configured?.status, 'manual');
    assert.match(untried.configured?.evidence ?? '', /has sent no mail since it started: request a password reset \(POST \/v1\/auth\/password-reset\) for a mailbox you control/);
  });

  it('mail.outbox from the metrics: failed past 15 minutes of waiting, manual with dead letters of unknown age, passed otherwise', async () => {
    const draining = await mailItems(exposition({ sent: 1, pending: 1, oldest: 12 }));
    assert.equal(draining.outbox?.status, 'passed', JSON.stringify(draining.outbox));
    assert.match(draining.outbox?.evidence ?? '', /^1 mail\(s\) waiting, the oldest 12\.0s old \(mail_outbox_\*\); no dead letter in the outbox$/);

    const stuck = await mailItems(exposition({ pending: 40, oldest: 16 * 60 }));
    assert.equal(stuck.outbox?.status, 'failed');
    assert.match(stuck.outbox?.evidence ?? '', /40 mail\(s\) waiting, the oldest 16m00s old .*over 15m00s — not draining \(runbooks\/RampartMailOutboxStuck\.md\)/);

    const deadKept = await mailItems(exposition({ sent: 9, deadKept: 2 }));
    assert.equal(deadKept.outbox?.status, 'manual');
    assert.match(deadKept.outbox?.evidence ?? '', /2 dead letter\(s\) in the outbox, of unknown age without the database: pass --database-url/);
  });

  it('both fail when the metrics lack the mail families, and are manual without --metrics-url', async () => {
    const old = await mailItems('# TYPE http_requests_total counter\nhttp_requests_total{route="/healthz"} 1\n');
    for (const item of [old.configured, old.outbox]) {
      assert.equal(item?.status, 'failed', JSON.stringify(item));
      assert.match(item?.evidence ?? '', /missing: mail_sent_total, mail_suppressed_total, mail_outbox_pending, mail_outbox_dead, mail_outbox_oldest_age_seconds/);
    }
    const none = await mailItems(undefined);
    assert.equal(none.configured?.status, 'manual');
    assert.match(none.configured?.evidence ?? '', /pass --metrics-url .*"mail sender started" must say "transport":"smtp"/);
    assert.equal(none.outbox?.status, 'manual');
  });

  it('mail.outbox from the database reports a query it cannot run (no mail_outbox yet) as failed', async (t) => {
    const unmigrated = await createTestDatabase({ migrated: false });
    t.after(() => unmigrated.drop());
    const item = await mailOutboxDatabaseCheck(unmigrated.db);
    assert.equal(item.status, 'failed');
    assert.equal(item.evidence, 'query of mail_outbox failed: relation "mail_outbox" does not exist');
  });
});
