import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyRoles } from '../../cli/src/lib/db-roles/apply.js';
import { main } from '../../cli/src/main.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, spawnService } from '../helpers/service-process.js';
import { realPostgresAvailable, testDatabaseUrl } from '../helpers/services.js';
import { captureIo } from './capture.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../helpers/production-env.js';

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
  'db.role',
  'db.migrations',
  'backup.drill',
];


/** Roles are cluster-wide: this run's own names (the service's user is a member of RUNTIME_ROLE). */
const ROLE_SUFFIX = randomBytes(4).toString('hex');
const RUNTIME_ROLE = `rampart_readiness_rt_${ROLE_SUFFIX}`;

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
  let base: string;
  let metrics: string;
  let proxy: http.Server | undefined;
  let proxyBase: string;
  const role = `rampart_readiness_${ROLE_SUFFIX}`;
  const roles = [`${role}_owner`, RUNTIME_ROLE, role, `${role}_b`];
  let roleUrl: string;
  const backupDir = mkdtempSync(join(tmpdir(), 'rampart-readiness-'));

  before(async () => {
    database = await createTestDatabase();
    const dbUrl = database.url as string;
    // The service's least-privilege user, as `secops db roles apply` makes it.
    const [owner, runtime, userA, userB] = roles as [string, string, string, string];
    await applyRoles(database.db.knex, { owner, runtime, users: [userA, userB], schema: 'public', connectionLimit: 10 }, { dryRun: false });
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

    service = await spawnService({
      env: {
        NODE_ENV: 'production', ...PRODUCTION_ACCOUNT_SETTINGS,
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
    if (database?.url) for (const r of roles) await adminQuery(database.url, `drop owned by ${r}`).catch(() => undefined);
    await database?.drop();
    for (const r of roles) await adminQuery(testDatabaseUrl() as string, `drop role if exists ${r}`).catch(() => undefined);
    rmSync(backupDir, { recursive: true, force: true });
  });

  it('verifies every automated item and exits 0 with a least-privilege role', async () => {
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
    // Plain http: the redirect can only be checked at the ingress.
    assert.equal(byId(report, 'tls.redirect')?.status, 'manual');
    assert.ok(report.items.some((i) => i.status === 'manual' && i.id.startsWith('manual.')));
    for (const item of report.items) {
      assert.ok(item.id && item.section && item.title && item.evidence, JSON.stringify(item));
    }
    assert.match(byId(report, 'db.role')?.evidence ?? '', new RegExp(role));
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
