import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyRoles } from '../../cli/src/lib/db-roles/apply.js';
import { dropTestRoles, testRoles } from '../helpers/db-roles.js';
import { main } from '../../cli/src/main.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { realPostgresAvailable, testRedisUrl } from '../helpers/services.js';
import { redisUnderPrefix } from '../helpers/prefixed-redis.js';
import { captureIo } from './capture.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../helpers/production-env.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { mailOutboxDatabaseCheck } from '../../cli/src/lib/readiness/mail.js';
import { METRICS_CHECK_IDS } from '../../cli/src/lib/readiness/metrics.js';
import { initialDocument, serializeKeysDocument } from '../../service/src/components/auth/keys-document.js';
import { waitFor } from '../helpers/wait.js';
import { fabricateBackup, TEST_SIGNING_KEYRING } from './backup-fixtures.js';

interface Check {
  id: string;
  status: 'passed' | 'failed' | 'manual';
  evidence: string;
}
interface Item {
  id: string;
  section: string;
  title: string;
  status: 'passed' | 'failed' | 'manual';
  evidence: string;
  checks: Check[];
}
interface Report {
  ok: boolean;
  tiers: string[];
  items: Item[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The items the read-only, database, backups, Dockerfile, alerts, runbooks and manifests tiers leave
 * manual against this deployment: those only the active probes (--probe-account) prove, those no machine
 * can decide, and optional tracing (off in the manifests). The stream cap is proven from the manifests.
 */
const NEEDS_PROBES = [
  'auth.lockout',
  'auth.audit-log',
  'auth.email-validation',
  'auth.password-strength',
  'auth.refresh-tokens',
  'auth.logout',
  'auth.refresh-reuse',
  'limits.per-user',
];
const MANUAL_BY_NATURE = [
  'obs.structured-logs',
  'perf.load-baseline',
  'perf.pool-tuning',
  'perf.argon2-bench',
  'future.failover',
];

/** Roles are cluster-wide: this run's own names (the service's user is a member of RUNTIME_ROLE). */
const ROLE_SUFFIX = randomBytes(4).toString('hex');
const ROLES = testRoles('rr');
const RUNTIME_ROLE = ROLES.runtime;

async function readiness(args: string[], env: Record<string, string> = {}) {
  const captured = captureIo({ PATH: process.env.PATH, ...env });
  const code = await main(['--json', 'readiness', '--runtime-role', RUNTIME_ROLE, ...args], captured.io);
  const stdout = captured.stdout();
  return { code, stderr: captured.stderr(), report: stdout ? (JSON.parse(stdout) as Report) : undefined };
}

const byId = (report: Report | undefined, id: string) => report?.items.find((i) => i.id === id);
/** A check's result, wherever the table placed it. */
const checkOf = (report: Report | undefined, id: string) => report?.items.flatMap((i) => i.checks).find((c) => c.id === id);
const failedIds = (report: Report | undefined) => report?.items.filter((i) => i.status === 'failed').map((i) => i.id);

/** A copy of k8s/ with the digest the release pipeline sets (the committed one is a placeholder). */
function deployedOverlay(dir: string): string {
  cpSync(join(ROOT, 'k8s'), join(dir, 'k8s'), { recursive: true });
  for (const k of ['k8s/base/kustomization.yaml', 'k8s/overlays/production/kustomization.yaml']) {
    const path = join(dir, k);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/sha256:0{64}/, `sha256:${'ab'.repeat(32)}`));
  }
  return join(dir, 'k8s/overlays/production');
}

describe('secops readiness against the real service', {
  skip: !(await realPostgresAvailable()) && 'needs PostgreSQL (REQUIRE_SERVICES=1)',
}, () => {
  let database: TestDatabase;
  /** The strict deployment's own database: each outbox is drained by its own service alone. */
  let strictDatabase: TestDatabase | undefined;
  let strictRoleUrl: string;
  let service: ServiceProcess | undefined;
  let smtp: TestSmtpServer | undefined;
  let base: string;
  let metrics: string;
  /** The deployment as production runs it: email verification required, Redis, the lockout on. */
  let strict: ServiceProcess | undefined;
  const redis = testRedisUrl() ? redisUnderPrefix(testRedisUrl() as string, 'readiness') : undefined;
  let proxy: http.Server | undefined;
  let proxyBase: string;
  /** The response headers the proxy drops. */
  let stripped: string[] = [];
  const role = ROLES.users[0];
  let roleUrl: string;
  const work = mkdtempSync(join(tmpdir(), 'rampart-readiness-'));
  const backupDir = join(work, 'backups');
  const overlay = deployedOverlay(work);
  const SIGNED = { BACKUP_SIGNING_KEY: TEST_SIGNING_KEYRING };
  /** The three tiers this command's own modules provide, with every default directory named. */
  const allTiers = () => [
    '--url',
    base,
    '--metrics-url',
    metrics,
    '--database-url',
    roleUrl,
    '--backup-dir',
    backupDir,
    '--kustomize',
    overlay,
    '--alerts-dir',
    join(ROOT, 'alerts'),
    '--runbooks-dir',
    join(ROOT, 'runbooks'),
    '--dockerfile',
    join(ROOT, 'Dockerfile'),
    '--workflows',
    join(ROOT, '.github/workflows'),
    '--waf-config',
    join(ROOT, 'k8s/ingress-nginx/controller-configmap.yaml'),
  ];

  before(async () => {
    database = await createTestDatabase();
    const dbUrl = database.url as string;
    // The service's least-privilege user, as `secops db roles apply` makes it.
    await applyRoles(database.db.knex, ROLES.layout, { dryRun: false });
    const u = new URL(dbUrl);
    u.username = role;
    u.password = '';
    roleUrl = u.toString();

    // A signed backup, a passing drill report and a PITR drill report where the jobs write them.
    mkdirSync(backupDir);
    const backup = fabricateBackup(backupDir, new Date(Date.now() - 2 * 3_600_000).toISOString());
    writeFileSync(
      join(backupDir, `drill-${backup.id}.json`),
      JSON.stringify({
        ok: true,
        finishedAt: new Date(Date.now() - 3_600_000).toISOString(),
        backup: { id: backup.id },
        failures: [],
      }),
    );
    writeFileSync(
      join(backupDir, 'pitr-drill-20261206.json'),
      JSON.stringify({
        ok: true,
        finishedAt: new Date(Date.now() - 3_600_000).toISOString(),
        window: { seconds: 3 * 86_400 },
        failures: [],
      }),
    );

    // A relay as production has one: STARTTLS, AUTH, a certificate trusted through MAIL_CA_FILE.
    smtp = await startSmtpServer();
    const keys = await initialDocument({ alg: 'EdDSA', now: new Date() });
    service = await spawnService({
      env: {
        NODE_ENV: 'production',
        ...PRODUCTION_ACCOUNT_SETTINGS,
        MAIL_URL: smtp.mailUrl,
        MAIL_CA_FILE: smtp.caFile,
        // Verification off: --signup-probe decodes the token of a fresh signup.
        EMAIL_VERIFICATION: 'off',
        DATABASE_URL: dbUrl,
        MIGRATE_ON_START: 'false',
        // An EdDSA keyring, as k8s/ deploys it (JWT_KEYS_FILE): the JWKS publishes its key.
        JWT_KEYS: serializeKeysDocument(keys),
        GIT_SHA: randomBytes(20).toString('hex'),
        SHUTDOWN_DELAY_MS: '0',
        LOG_LEVEL: 'info',
      },
    });
    base = service.baseUrl;
    metrics = service.metricsUrl;
    strictDatabase = await createTestDatabase();
    await applyRoles(strictDatabase.db.knex, ROLES.layout, { dryRun: false });
    const su = new URL(strictDatabase.url as string);
    su.username = role;
    su.password = '';
    strictRoleUrl = su.toString();
    strict = await spawnService({
      env: {
        NODE_ENV: 'production',
        ...PRODUCTION_ACCOUNT_SETTINGS,
        MAIL_URL: smtp.mailUrl,
        MAIL_CA_FILE: smtp.caFile,
        DATABASE_URL: strictDatabase.url as string,
        MIGRATE_ON_START: 'false',
        JWT_KEYS: serializeKeysDocument(keys),
        GIT_SHA: randomBytes(20).toString('hex'),
        SHUTDOWN_DELAY_MS: '0',
        LOG_LEVEL: 'info',
        // The probe's reuse check waits one second past the grace window: 2 s here instead of 11.
        REFRESH_REUSE_GRACE_SECONDS: '1',
        ...(redis ? { REDIS_URL: testRedisUrl() as string, REDIS_KEY_PREFIX: redis.prefix } : {}),
      },
    });
    const listening = { port: Number(new URL(base).port) };

    // A proxy in front of the service that drops the headers named in `stripped`.
    proxy = http.createServer((req, res) => {
      const upstream = http.request(
        { host: '127.0.0.1', port: listening.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          const headers = { ...up.headers };
          for (const name of stripped) delete headers[name];
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

    // mail.configured wants this replica to have handed a mail to the relay: a signup mails its link.
    const email = `readiness-mail-${ROLE_SUFFIX}@example.com`;
    const signup = await fetch(`${base}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: `readiness ${randomBytes(8).toString('hex')} Mail!` }),
    });
    assert.equal(signup.status, 201, await signup.text());
    await smtp.waitForMail({ to: email });
    await waitFor('mail_sent_total{outcome="sent"} to rise', async () =>
      /^mail_sent_total\{[^}]*outcome="sent"[^}]*\} [1-9]/m.test(await (await fetch(metrics)).text()),
    );
  });

  after(async () => {
    if (proxy) {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy?.close(resolve));
    }
    await Promise.all([service?.stop(), strict?.stop()]);
    await smtp?.close();
    // The roles hold privileges in both databases: the strict one goes first.
    await strictDatabase?.drop();
    if (database?.url) await dropTestRoles(database.url, ROLES, () => database.drop());
    else await database?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('with the three tiers (read-only, manifests, active probes) against production with verification and Redis: 55 of 61 items [x], the 6 others manual by nature', async () => {
    const running = strict as ServiceProcess;
    // mail.configured wants this replica to have handed a mail to the relay: a signup (202) mails its link.
    const email = `readiness-strict-${ROLE_SUFFIX}@example.com`;
    const signup = await fetch(`${running.baseUrl}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: `readiness ${randomBytes(8).toString('hex')} Strict!` }),
    });
    assert.equal(signup.status, 202, await signup.text());
    await smtp?.waitForMail({ to: email });
    await waitFor('mail_sent_total{outcome="sent"} to rise on the strict replica', async () =>
      /^mail_sent_total\{[^}]*outcome="sent"[^}]*\} [1-9]/m.test(await (await fetch(running.metricsUrl)).text()),
    );
    const args = allTiers();
    args[args.indexOf('--url') + 1] = running.baseUrl;
    args[args.indexOf('--metrics-url') + 1] = running.metricsUrl;
    args[args.indexOf('--database-url') + 1] = strictRoleUrl;
    const { code, stderr, report } = await readiness([...args, '--probe-account'], {
      ...SIGNED,
      AUDIT_HASH_KEY: PRODUCTION_ACCOUNT_SETTINGS.AUDIT_HASH_KEY,
      REFRESH_REUSE_GRACE_SECONDS: '1',
    });
    assert.ok(report, stderr);
    assert.deepEqual(
      report.items.filter((i) => i.status === 'failed'),
      [],
      stderr,
    );
    assert.equal(code, 0, stderr);
    assert.ok(report.tiers.includes('probe') && report.tiers.includes('manifests') && report.tiers.includes('read-only'));
    const manual = report.items.filter((i) => i.status === 'manual').map((i) => i.id);
    assert.deepEqual(manual.sort(), [...MANUAL_BY_NATURE, 'obs.tracing'].sort());
    const passed = report.items.filter((i) => i.status === 'passed').length;
    assert.equal(passed, 55);
    console.log(`secops readiness, three tiers: ${passed} of ${report.items.length} items [x]; manual: ${manual.join(', ')}`);
    for (const id of NEEDS_PROBES) assert.equal(byId(report, id)?.status, 'passed', id);
  });

  it('proves every item its tiers can reach and exits 0: read-only, database, backups, Dockerfile, alerts, runbooks, pipeline, manifests', async () => {
    const { code, stderr, report } = await readiness(allTiers(), SIGNED);
    assert.ok(report, stderr);
    assert.deepEqual(
      report.items.filter((i) => i.status === 'failed'),
      [],
      stderr,
    );
    assert.equal(code, 0, stderr);
    assert.equal(report.ok, true);
    assert.deepEqual(report.tiers, [
      'read-only',
      'manifests',
      'database',
      'backups',
      'dockerfile',
      'alerts',
      'runbooks',
      'pipeline',
    ]);
    assert.equal(report.items.length, 61);
    const manual = report.items.filter((i) => i.status === 'manual').map((i) => i.id);
    assert.deepEqual(manual.sort(), [...NEEDS_PROBES, ...MANUAL_BY_NATURE, 'obs.tracing'].sort());
    assert.equal(report.items.filter((i) => i.status === 'passed').length, 47);
    for (const id of NEEDS_PROBES) assert.match(byId(report, id)?.evidence ?? '', /needs --probe-account/, id);
    for (const item of report.items) assert.ok(item.id && item.section && item.title && item.evidence, JSON.stringify(item));

    assert.match(checkOf(report, 'db.role')?.evidence ?? '', new RegExp(role));
    assert.match(
      checkOf(report, 'db.argon2')?.evidence ?? '',
      /^\d+ × \$argon2id\$v=19\$m=19456,t=2,p=1\$ \(OWASP minimum m=19456,t=2,p=1; defaults m=19456,t=2,p=1\)$/,
    );
    assert.match(
      checkOf(report, 'db.indexes')?.evidence ?? '',
      /messages of a conversation: Index Scan using messages_conversation_created_idx on messages \(conversation_id, created_at, id\); conversations of a user: Index Scan using conversations_user_updated_idx on conversations \(user_id, updated_at, id\)/,
    );
    assert.match(
      checkOf(report, 'backup.signed')?.evidence ?? '',
      /^1 backup\(s\) under .*, every manifest's signature verified$/,
    );
    assert.match(checkOf(report, 'jwt.asymmetric')?.evidence ?? '', /^JWKS: \S+=EdDSA$/);
    assert.match(
      checkOf(report, 'rate-limit.auth-tighter')?.evidence ?? '',
      /^GET \/v1\/auth\/sessions: "\w+";q=\d+;w=\d+ .* vs\. (unknown path|\/version): "global";q=600;w=60/,
    );
    assert.match(checkOf(report, 'metrics.keyring')?.evidence ?? '', /1 signing, 0 failed reload\(s\)/);
    assert.equal(checkOf(report, 'metrics.faults')?.evidence, 'process_faults_total 0 since start');
    assert.match(
      checkOf(report, 'mail.configured')?.evidence ?? '',
      // Both services drain the one outbox of the shared database: either may have sent the other's mail.
      /^[1-9]\d* sent, 0 failed and retried, 0 dead-lettered by this replica since it started/,
    );
    // With a database the outbox item is the table's view (it replaces the metrics' one).
    assert.match(
      checkOf(report, 'mail.outbox')?.evidence ?? '',
      /^\d+ mail\(s\) waiting, .*; 0 dead letter\(s\) in the last 24h00m, 0 kept in all; [1-9]\d* sent in the last 24h00m \(mail_outbox\)$/,
    );
    // Plain http: the refusal of plain HTTP can only be checked at the ingress; the manifests prove TLS there.
    assert.equal(checkOf(report, 'tls.plain-http')?.status, 'manual');
    assert.equal(byId(report, 'net.https-hsts')?.status, 'passed');
  });

  it('a stored hash below the OWASP minimum fails auth.argon2, saying which parameter and how many accounts', async (t) => {
    const knex = database.db.knex;
    const [weak] = await knex('users')
      .insert({
        email: `weak-${ROLE_SUFFIX}@example.com`,
        password_hash: '$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
      })
      .returning('id');
    t.after(() => knex('users').where({ id: weak.id }).delete());
    const { code, report } = await readiness(['--url', base, '--database-url', roleUrl]);
    assert.equal(code, 1);
    assert.deepEqual(failedIds(report), ['auth.argon2']);
    assert.match(
      byId(report, 'auth.argon2')?.evidence ?? '',
      /^db\.argon2: 1 × \$argon2id\$v=19\$m=4096,t=1,p=1\$: below the OWASP minimum \(memoryKiB 4096 < 19456, timeCost 1 < 2\)/,
    );
  });

  it('a dropped list index fails db.indexes: the plan no longer scans (conversation_id, created_at)', async (t) => {
    const knex = database.db.knex;
    await knex.raw('drop index messages_conversation_created_idx');
    t.after(() => knex.raw('create index messages_conversation_created_idx on messages (conversation_id, created_at, id)'));
    const { code, report } = await readiness(['--url', base, '--database-url', roleUrl]);
    assert.equal(code, 1);
    assert.deepEqual(failedIds(report), ['db.indexes']);
    assert.match(
      byId(report, 'db.indexes')?.evidence ?? '',
      /^db\.indexes: messages of a conversation: (no index scan on messages|Index Scan using \S+ on messages \(.*\), not led by \(conversation_id, created_at\))/,
    );
  });

  it('messages older than the retention policy fail db.retention', async (t) => {
    const knex = database.db.knex;
    const [user] = await knex('users').select('id').limit(1);
    const [conversation] = await knex('conversations').insert({ user_id: user.id, title: 'old' }).returning('id');
    t.after(() => knex('conversations').where({ id: conversation.id }).delete());
    await knex('messages').insert({
      conversation_id: conversation.id,
      role: 'user',
      content: 'old',
      created_at: new Date(Date.now() - 100 * 86_400_000),
    });
    const { code, report } = await readiness(['--url', base, '--database-url', roleUrl]);
    assert.equal(code, 1);
    assert.deepEqual(failedIds(report), ['db.retention']);
    assert.match(
      byId(report, 'db.retention')?.evidence ?? '',
      /1 message\(s\), the oldest 100d\S* old: 1 over 91d\S* — the retention job \(secops retention run\) is not running or not deleting/,
    );
  });

  it('an unsigned backup manifest fails db.backups; without the key, signed manifests stay manual', async (t) => {
    const dir = join(work, 'unsigned');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(dir);
    const good = fabricateBackup(dir, new Date(Date.now() - 26 * 3_600_000).toISOString());
    const bad = fabricateBackup(dir, new Date(Date.now() - 3_600_000).toISOString(), { sequence: 2, predecessor: good });
    const manifest = JSON.parse(readFileSync(join(bad.dir, 'manifest.json'), 'utf8'));
    delete manifest.signature;
    writeFileSync(join(bad.dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(
      join(dir, 'drill-x.json'),
      JSON.stringify({ ok: true, finishedAt: new Date().toISOString(), backup: { id: good.id }, failures: [] }),
    );

    const verified = await readiness(['--url', base, '--backup-dir', dir], SIGNED);
    assert.equal(verified.code, 1);
    assert.deepEqual(failedIds(verified.report), ['db.backups']);
    assert.match(
      byId(verified.report, 'db.backups')?.evidence ?? '',
      new RegExp(`^backup\\.signed: ${bad.id}: unsigned — the manifest carries no signature$`),
    );
    const unkeyed = await readiness(['--url', base, '--backup-dir', dir]);
    assert.match(checkOf(unkeyed.report, 'backup.signed')?.evidence ?? '', new RegExp(`^unsigned manifest\\(s\\): ${bad.id}$`));

    rmSync(bad.dir, { recursive: true });
    const signedOnly = await readiness(['--url', base, '--backup-dir', dir]);
    assert.equal(checkOf(signedOnly.report, 'backup.signed')?.status, 'manual');
    assert.match(
      checkOf(signedOnly.report, 'backup.signed')?.evidence ?? '',
      /carry a signature \(key test-signing\) but BACKUP_SIGNING_KEY is not set/,
    );
  });

  it('a failed or stale PITR drill fails db.backups', async (t) => {
    const dir = join(work, 'pitr');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(backupDir, dir, { recursive: true });
    writeFileSync(
      join(dir, 'pitr-drill-20261207.json'),
      JSON.stringify({
        ok: false,
        finishedAt: new Date().toISOString(),
        window: { seconds: 3600 },
        failures: ['marker 3 missing after restore'],
      }),
    );
    const { report } = await readiness(['--url', base, '--backup-dir', dir], SIGNED);
    assert.match(
      byId(report, 'db.backups')?.evidence ?? '',
      /^backup\.pitr: pitr-drill-20261207\.json: drill \S+ ago, FAILED, window 1h00m: failed: marker 3 missing after restore; window 1h00m is shorter than 24h00m$/,
    );
  });

  it("mail.outbox fails on a mail waiting over 15 minutes and on a recent dead letter, not on the signup probe's", async () => {
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
          {
            ...row,
            to_address: 'late@example.com',
            text_body: 'link',
            html_body: 'link',
            status: 'pending',
            attempts: 6,
            created_at: new Date(Date.now() - 20 * 60_000),
            next_attempt_at: new Date(Date.now() + 30 * 60_000),
            last_error: 'ECONNREFUSED',
          },
          {
            ...row,
            to_address: 'gone@example.com',
            status: 'dead',
            attempts: 8,
            next_attempt_at: new Date(Date.now() - 3_600_000),
            last_error: 'EENVELOPE 550 after RCPT TO',
          },
          {
            ...row,
            template: 'verify_email',
            to_address: 'secops-readiness-x@example.invalid',
            status: 'dead',
            attempts: 8,
            next_attempt_at: new Date(Date.now() - 3_600_000),
            last_error: 'EENVELOPE 550 after RCPT TO',
          },
        ])
        .returning('id')
    ).map((r: { id: string }) => r.id);
    try {
      const { code, stderr, report } = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl]);
      assert.equal(code, 1, stderr);
      const item = checkOf(report, 'mail.outbox');
      assert.equal(item?.status, 'failed', JSON.stringify(item));
      assert.match(item?.evidence ?? '', /1 mail\(s\) waiting, the oldest 20m\d\ds old, 1 over 15m00s/);
      assert.match(
        item?.evidence ?? '',
        /1 dead letter\(s\) in the last 24h00m \(and 1 to \.invalid probe addresses, not counted\), 2 kept in all/,
      );
      assert.match(
        item?.evidence ?? '',
        /mail is not draining \(runbooks\/RampartMailOutboxStuck\.md\); recent dead letters \(runbooks\/RampartMailDeadLetters\.md\)$/,
      );
      assert.doesNotMatch(item?.evidence ?? '', /example\.(com|invalid)/, 'no address in the evidence');
      assert.deepEqual(failedIds(report), ['auth.email-validation']);
    } finally {
      await knex('mail_outbox').whereIn('id', ids).delete();
    }
  });

  it('runtime.currency: passes on the live Node 26 and the Node 26 / Debian 13 image, fails on an image of Debian 12', async () => {
    const passing = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl]);
    const item = checkOf(passing.report, 'runtime.currency');
    assert.equal(item?.status, 'passed', JSON.stringify(item));
    assert.match(
      item?.evidence ?? '',
      new RegExp(`Node 26 \\(live /version ${process.version.replaceAll('.', '\\.')}\\): supported until 2029-04-30`),
    );
    assert.match(item?.evidence ?? '', /Debian 13 \(trixie\) \(Dockerfile line \d+ \(stage deps\)\): supported/);

    const bookworm = join(work, 'Dockerfile.bookworm');
    writeFileSync(bookworm, `FROM node:26-bookworm-slim@sha256:${'b'.repeat(64)} AS runtime\n`);
    const failing = await readiness([
      '--url',
      base,
      '--metrics-url',
      metrics,
      '--database-url',
      roleUrl,
      '--dockerfile',
      bookworm,
    ]);
    assert.equal(failing.code, 1, failing.stderr);
    assert.equal(byId(failing.report, 'supply.base-image-cves')?.status, 'failed');
    assert.match(
      byId(failing.report, 'supply.base-image-cves')?.evidence ?? '',
      /^runtime\.currency: .*Debian 12 \(bookworm\).*reached end of life on 2026-07-11/,
    );
  });

  it('a migration modified after it was applied fails the migrations item, naming it', async (t) => {
    const knex = database.db.knex;
    const row = await knex('rampart_migration_checksums').orderBy('name', 'desc').first();
    assert.ok(row, 'the test database has its migrations applied');
    await knex('rampart_migration_checksums')
      .where({ name: row.name })
      .update({ checksum: '0'.repeat(64) });
    t.after(() => knex('rampart_migration_checksums').where({ name: row.name }).update({ checksum: row.checksum }));
    const { code, report } = await readiness(['--url', base, '--metrics-url', metrics, '--database-url', roleUrl]);
    assert.equal(code, 1);
    assert.equal(byId(report, 'db.migrations')?.status, 'failed');
    assert.match(
      byId(report, 'db.migrations')?.evidence ?? '',
      new RegExp(`db\\.migrations: modified since applied: ${row.name}`),
    );
    assert.deepEqual(failedIds(report), ['db.migrations']);
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
    assert.equal(byId(report, 'db.least-privilege')?.status, 'failed');
    assert.match(byId(report, 'db.least-privilege')?.evidence ?? '', /SUPERUSER/);
    assert.match(stderr, /db\.least-privilege/);
    assert.deepEqual(failedIds(report), ['db.least-privilege']);
    assert.doesNotMatch(stderr, /postgres:\/\/postgres@/);
  });

  it('fails the HSTS item when a proxy strips Strict-Transport-Security (exit 1)', async (t) => {
    stripped = ['strict-transport-security'];
    t.after(() => {
      stripped = [];
    });
    const { code, stderr, report } = await readiness(['--url', proxyBase, '--metrics-url', metrics, '--database-url', roleUrl]);
    assert.equal(code, 1, stderr);
    assert.deepEqual(failedIds(report), ['auth.security-headers', 'net.https-hsts']);
    assert.equal(byId(report, 'auth.security-headers')?.evidence, 'headers.hsts: GET /healthz: Strict-Transport-Security absent');
    assert.match(stderr, /auth\.security-headers/);
  });

  it('a proxy stripping RateLimit-Policy fails the burst-breaker and auth-limit items', async (t) => {
    stripped = ['ratelimit-policy'];
    t.after(() => {
      stripped = [];
    });
    // The database gives mail.outbox from the table: the sender's gauge may still hold an earlier test's mail.
    const { report } = await readiness(['--url', proxyBase, '--metrics-url', metrics, '--database-url', roleUrl]);
    assert.deepEqual(failedIds(report), ['limits.auth-endpoints', 'limits.burst-breaker']);
    assert.equal(
      byId(report, 'limits.auth-endpoints')?.evidence,
      'rate-limit.auth-tighter: RateLimit-Policy absent on /healthz, an unknown path and /version; absent on GET /v1/auth/sessions',
    );
  });

  it('--signup-probe decodes a real access token header', async () => {
    const { code, stderr, report } = await readiness(['--url', base, '--signup-probe']);
    assert.equal(code, 0, stderr);
    assert.equal(checkOf(report, 'jwt.algorithm')?.status, 'passed');
    assert.match(checkOf(report, 'jwt.algorithm')?.evidence ?? '', /alg=EdDSA typ=at\+jwt kid=\S+/);
    // Without a database or --metrics-url those items are manual, not failures.
    assert.equal(byId(report, 'db.least-privilege')?.status, 'manual');
    assert.match(byId(report, 'db.least-privilege')?.evidence ?? '', /^needs --database-url/);
    assert.equal(byId(report, 'obs.metrics')?.status, 'manual');
  });

  it('prints the checklist as text with [x], [ ] and [manual]', async (t) => {
    stripped = ['strict-transport-security'];
    t.after(() => {
      stripped = [];
    });
    const captured = captureIo({});
    const code = await main(
      ['readiness', '--url', proxyBase, '--database-url', roleUrl, '--runtime-role', RUNTIME_ROLE],
      captured.io,
    );
    assert.equal(code, 1);
    const text = captured.stdout();
    assert.match(text, /## 1\. Security \/ Auth/);
    assert.match(text, /\[x\] Create dedicated least-privilege DB user \(no superuser\) {2}\(db\.least-privilege\)/);
    assert.match(
      text,
      /\[ \] Add security headers middleware .*\(auth\.security-headers\)\n {6}seen: headers\.hsts: GET \/healthz: Strict-Transport-Security absent/,
    );
    assert.match(text, /\[manual\] .*\(obs\.metrics\)\n {6}why: metrics\.present: pass --metrics-url/);
    assert.match(text, /\d+ verified, \d+ failed, \d+ manual of 61 — NOT READY/);
  });
});

describe('secops readiness: a stand-in that accepts everything', () => {
  it('fails the items it breaks, each with what was seen: 200 to text/plain (415 expected), 200 to a 1 GiB body (413 expected), /version without a git SHA', async (t) => {
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      // Answers at once, without reading a body: as a service without the early limit would, 200.
      res.end(
        req.url === '/version' ? JSON.stringify({ version: '0.1.0', git_sha: 'unknown', node_version: process.version }) : '{}',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { code, report } = await readiness(['--url', url, '--timeout', '2s']);
    assert.equal(code, 1);
    assert.equal(byId(report, 'app.content-type')?.status, 'failed');
    assert.match(byId(report, 'app.content-type')?.evidence ?? '', /api\.content-type: POST \/v1\/auth\/login text\/plain → 200/);
    assert.equal(byId(report, 'app.body-limit')?.status, 'failed');
    assert.match(byId(report, 'app.body-limit')?.evidence ?? '', /api\.body-limit: .*200/);
    assert.equal(byId(report, 'release.git-sha')?.status, 'failed');
    assert.match(byId(report, 'release.git-sha')?.evidence ?? '', /version\.git-sha: GET \/version → 200, git_sha="unknown"/);
  });
});

describe('secops readiness: the runtime a service reports', () => {
  it('fails runtime.currency when /version reports a Node line past its end of life, and when it reports none', async (t) => {
    let nodeVersion: string | undefined = 'v20.20.2';
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        req.url === '/version'
          ? JSON.stringify({
              version: '0.1.0',
              git_sha: 'a'.repeat(40),
              built_at: '2026-01-01T00:00:00Z',
              node_version: nodeVersion,
            })
          : '{}',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const old = await readiness(['--url', url, '--timeout', '2s']);
    assert.equal(old.code, 1);
    const item = checkOf(old.report, 'runtime.currency');
    assert.equal(item?.status, 'failed');
    assert.match(item?.evidence ?? '', /Node 20 \(Iron\) \(live \/version v20\.20\.2\): reached end of life on 2026-04-30/);

    nodeVersion = undefined;
    const none = await readiness(['--url', url, '--timeout', '2s']);
    assert.equal(checkOf(none.report, 'runtime.currency')?.status, 'failed');
    assert.match(checkOf(none.report, 'runtime.currency')?.evidence ?? '', /node_version=null: no Node version to check/);
  });
});

describe('secops readiness: the mail items', () => {
  /** The metrics listener's text: the mail families, with the samples given. */
  const exposition = (samples: {
    sent?: number;
    retry?: number;
    dead?: number;
    pending?: number;
    deadKept?: number;
    oldest?: number;
  }) =>
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
    const { report } = await readiness([
      '--url',
      url,
      '--timeout',
      '2s',
      ...(metricsBody === undefined ? [] : ['--metrics-url', `${url}/metrics`]),
    ]);
    return { configured: checkOf(report, 'mail.configured'), outbox: checkOf(report, 'mail.outbox') };
  }

  it('mail.configured: passed once this replica sent mail, failed when every try failed, manual when none was tried', async () => {
    const sent = await mailItems(exposition({ sent: 3, retry: 1 }));
    assert.equal(sent.configured?.status, 'passed', JSON.stringify(sent.configured));
    assert.match(
      sent.configured?.evidence ?? '',
      /^3 sent, 1 failed and retried, 0 dead-lettered by this replica since it started \(mail_sent_total\): the relay accepts its mail$/,
    );

    const failing = await mailItems(exposition({ retry: 4, dead: 1, pending: 2, oldest: 300 }));
    assert.equal(failing.configured?.status, 'failed');
    assert.match(
      failing.configured?.evidence ?? '',
      /0 sent, 4 failed and retried, 1 dead-lettered .*every try failed — the relay is unreachable or refuses \(runbooks\/mail-delivery\.md, step 4\)/,
    );

    const untried = await mailItems(exposition({}));
    assert.equal(untried.configured?.status, 'manual');
    assert.match(
      untried.configured?.evidence ?? '',
      /has sent no mail since it started: request a password reset \(POST \/v1\/auth\/password-reset\) for a mailbox you control/,
    );
  });

  it('mail.outbox from the metrics: failed past 15 minutes of waiting, manual with dead letters of unknown age, passed otherwise', async () => {
    const draining = await mailItems(exposition({ sent: 1, pending: 1, oldest: 12 }));
    assert.equal(draining.outbox?.status, 'passed', JSON.stringify(draining.outbox));
    assert.match(
      draining.outbox?.evidence ?? '',
      /^1 mail\(s\) waiting, the oldest 12\.0s old \(mail_outbox_\*\); no dead letter in the outbox$/,
    );

    const stuck = await mailItems(exposition({ pending: 40, oldest: 16 * 60 }));
    assert.equal(stuck.outbox?.status, 'failed');
    assert.match(
      stuck.outbox?.evidence ?? '',
      /40 mail\(s\) waiting, the oldest 16m00s old .*over 15m00s — not draining \(runbooks\/RampartMailOutboxStuck\.md\)/,
    );

    const deadKept = await mailItems(exposition({ sent: 9, deadKept: 2 }));
    assert.equal(deadKept.outbox?.status, 'manual');
    assert.match(
      deadKept.outbox?.evidence ?? '',
      /2 dead letter\(s\) in the outbox, of unknown age without the database: pass --database-url/,
    );
  });

  it('both fail when the metrics lack the mail families, and are manual without --metrics-url', async () => {
    const old = await mailItems('# TYPE http_requests_total counter\nhttp_requests_total{route="/healthz"} 1\n');
    for (const item of [old.configured, old.outbox]) {
      assert.equal(item?.status, 'failed', JSON.stringify(item));
      assert.match(
        item?.evidence ?? '',
        /missing: mail_sent_total, mail_suppressed_total, mail_outbox_pending, mail_outbox_dead, mail_outbox_oldest_age_seconds/,
      );
    }
    const none = await mailItems(undefined);
    assert.equal(none.configured?.status, 'manual');
    assert.match(none.configured?.evidence ?? '', /pass --metrics-url .*"mail sender started" must say "transport":"smtp"/);
    assert.equal(none.outbox?.status, 'manual');
  });

  it('metrics values: a missing fault counter, faults since start, an empty pool, a keyring reload failure, the Redis fallback and uninstrumented limits fail their items', async () => {
    const againstStandIn = () => readiness(['--url', url, '--timeout', '2s', '--metrics-url', `${url}/metrics`]);
    const healthy = [
      '# TYPE process_faults_total counter',
      'process_faults_total{kind="uncaught_exception"} 0',
      '# TYPE db_pool_in_use gauge',
      'db_pool_in_use 2',
      '# TYPE db_pool_max gauge',
      'db_pool_max 10',
      '# TYPE db_pool_waiting gauge',
      'db_pool_waiting 0',
      '# TYPE rate_limit_dropped_total counter',
      '# TYPE abuse_blocks_total counter',
      'abuse_blocks_total 0',
      '# TYPE jwt_keyring_keys gauge',
      'jwt_keyring_keys{kid="k1",alg="EdDSA",role="signing"} 1',
      '# TYPE jwt_keyring_reloads_total counter',
      'jwt_keyring_reloads_total{trigger="interval",outcome="ok"} 4',
      '# TYPE rate_limit_redis_fallback gauge',
      'rate_limit_redis_fallback 0',
      '',
    ].join('\n');
    body = healthy;
    const ok = await againstStandIn();
    for (const id of METRICS_CHECK_IDS)
      assert.equal(checkOf(ok.report, id)?.status, 'passed', `${id}: ${JSON.stringify(checkOf(ok.report, id))}`);
    assert.equal(checkOf(ok.report, 'metrics.pool')?.evidence, 'db_pool_in_use 2 of db_pool_max 10, 0 waiting');

    body = healthy
      .replace('process_faults_total{kind="uncaught_exception"} 0', 'process_faults_total{kind="uncaught_exception"} 2')
      .replace('db_pool_max 10', 'db_pool_max 0')
      .replace('outcome="ok"} 4', 'outcome="error"} 1')
      .replace('rate_limit_redis_fallback 0', 'rate_limit_redis_fallback 1');
    const broken = await againstStandIn();
    assert.match(
      byId(broken.report, 'app.unguarded-input')?.evidence ?? '',
      /metrics\.faults: process_faults_total: uncaught_exception=2 since start \(runbooks\/RampartProcessFaults\.md\)/,
    );
    assert.equal(byId(broken.report, 'app.unguarded-input')?.status, 'failed');
    assert.equal(byId(broken.report, 'app.crash-hook')?.status, 'passed', 'the hook counts: it works');
    assert.match(byId(broken.report, 'db.pool-alerts')?.evidence ?? '', /metrics\.pool: db_pool_in_use 2 of db_pool_max 0/);
    assert.match(checkOf(broken.report, 'metrics.keyring')?.evidence ?? '', /1 signing, 1 failed reload\(s\)/);
    assert.equal(
      checkOf(broken.report, 'metrics.redis')?.evidence,
      'rate_limit_redis_fallback 1: Redis is configured but unreachable, limits are per replica',
    );

    body = healthy.replace('# TYPE process_faults_total counter\nprocess_faults_total{kind="uncaught_exception"} 0\n', '');
    const noHook = await againstStandIn();
    assert.equal(byId(noHook.report, 'app.crash-hook')?.status, 'failed');
    assert.equal(byId(noHook.report, 'app.crash-hook')?.evidence, 'metrics.fault-hook: process_faults_total absent');
    body = healthy
      .replace('# TYPE rate_limit_dropped_total counter', '# TYPE rate_limit_dropped_total gauge')
      .replace('# TYPE abuse_blocks_total counter\nabuse_blocks_total 0\n', '');
    const uninstrumented = await againstStandIn();
    assert.equal(
      byId(uninstrumented.report, 'limits.instrumented')?.evidence,
      'metrics.rate-limit: rate_limit_dropped_total is a gauge, 0 rejection(s) since start',
    );
    assert.equal(byId(uninstrumented.report, 'limits.instrumented')?.status, 'failed');
    assert.match(
      byId(uninstrumented.report, 'limits.burst-breaker')?.evidence ?? '',
      /metrics\.abuse-breaker: abuse_blocks_total absent/,
    );
    assert.equal(byId(uninstrumented.report, 'limits.burst-breaker')?.status, 'failed');
    body = [
      ...['http_requests_total', 'auth_success_total', 'auth_fail_total', 'rate_limit_dropped_total'].map(
        (m) => `# TYPE ${m} counter`,
      ),
      '# TYPE db_pool_in_use gauge',
      '# TYPE build_info gauge',
      '# TYPE external_model_latency_seconds summary',
      '',
    ].join('\n');
    const summary = await againstStandIn();
    assert.equal(
      byId(summary.report, 'obs.metrics')?.evidence,
      'metrics.present: GET /metrics → 200: external_model_latency_seconds is a summary, not a histogram',
    );
    // The stand-in publishes no JWKS keys: not asymmetric.
    assert.equal(byId(noHook.report, 'auth.asymmetric-jwt')?.status, 'failed');
    assert.match(
      byId(noHook.report, 'auth.asymmetric-jwt')?.evidence ?? '',
      /jwt\.asymmetric: GET \/\.well-known\/jwks\.json → 200, no keys array/,
    );
    // Key rotation needs asymmetric keys too.
    assert.equal(byId(noHook.report, 'future.key-rotation')?.status, 'failed');
    assert.match(byId(noHook.report, 'future.key-rotation')?.evidence ?? '', /jwt\.asymmetric: .*no keys array/);
  });

  it('mail.outbox from the database reports a query it cannot run (no mail_outbox yet) as failed', async (t) => {
    const unmigrated = await createTestDatabase({ migrated: false });
    t.after(() => unmigrated.drop());
    const item = await mailOutboxDatabaseCheck(unmigrated.db);
    assert.equal(item.status, 'failed');
    assert.equal(item.evidence, 'query of mail_outbox failed: relation "mail_outbox" does not exist');
  });
});
