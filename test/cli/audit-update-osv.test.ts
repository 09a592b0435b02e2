import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run as audit } from '../../cli/src/commands/audit.js';
import { run as updateAdvisories } from '../../cli/src/commands/audit-update-advisories.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CheckFailedError } from '../../cli/src/lib/errors.js';
import { main } from '../../cli/src/main.js';
import type { OsvRecord } from '../../cli/src/lib/supply-chain/advisories.js';
import type { InstalledPackage } from '../../cli/src/lib/supply-chain/installed.js';
import { captureIo } from './capture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SBOM = new URL('./fixtures/image-sbom.cdx.json', import.meta.url).pathname;
const DEBIAN_FIXTURE = JSON.parse(
  readFileSync(new URL('./fixtures/debian-openssl-advisory.osv.json', import.meta.url).pathname, 'utf8'),
).vulns[0] as OsvRecord;

/** OSV fixtures the local server knows, by id (the Debian one is a test fixture, not a real advisory). */
const KOA: OsvRecord = {
  id: 'GHSA-fixture-koa-0001',
  summary: 'fixture advisory on koa',
  database_specific: { severity: 'MODERATE' },
  affected: [
    {
      package: { ecosystem: 'npm', name: 'koa' },
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.0' }] }],
    },
  ],
};
const KOA_PAGE_2: OsvRecord = { ...KOA, id: 'GHSA-fixture-koa-0002' };
const RECORDS = new Map([KOA, KOA_PAGE_2, DEBIAN_FIXTURE].map((r) => [r.id, r]));

interface Query {
  package: { name: string; ecosystem: string };
  version?: string;
  page_token?: string;
}

const received: Query[][] = [];
let baseUrl: string;
const server = createServer(async (req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'POST' && req.url === '/v1/querybatch') {
    const { queries } = JSON.parse(await text(req)) as { queries: Query[] };
    received.push(queries);
    return send(200, {
      results: queries.map((q) => {
        if (q.package.ecosystem === 'npm' && q.package.name === 'koa')
          // koa's answer comes in two pages, as OSV pages long answers.
          return q.page_token === 'koa-2'
            ? { vulns: [{ id: KOA_PAGE_2.id }] }
            : { vulns: [{ id: KOA.id }], next_page_token: 'koa-2' };
        if (q.package.ecosystem === 'Debian:13' && q.package.name === 'openssl') return { vulns: [{ id: DEBIAN_FIXTURE.id }] };
        return {};
      }),
    });
  }
  const id = req.method === 'GET' ? /^\/v1\/vulns\/([^/]+)$/.exec(req.url ?? '')?.[1] : undefined;
  const record = id ? RECORDS.get(decodeURIComponent(id)) : undefined;
  if (record) return send(200, record);
  send(404, { code: 5, message: 'Bug not found.' });
});

async function text(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

const installed: InstalledPackage[] = [
  { name: 'koa', version: '3.3.0', paths: [] },
  { name: 'semver', version: '7.8.6', paths: [] },
];
const dir = mkdtempSync(join(tmpdir(), 'secops-osv-'));

function context(env: Record<string, string> = {}) {
  const captured = captureIo(env);
  return {
    captured,
    ctx: createContext(captured.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    }),
  };
}

describe('secops audit update-advisories (OSV over HTTP)', () => {
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks OSV about exactly the installed npm packages and the SBOM packages, and stamps the snapshot date', async () => {
    received.length = 0;
    const out = join(dir, 'snapshot.osv.json');
    const kept: OsvRecord = { ...KOA, id: 'GHSA-kept-by-hand-0001' };
    writeFileSync(out, JSON.stringify({ retrieved: '2026-10-01', sources: ['2026-10-01: earlier refresh'], vulns: [kept] }));
    const { ctx } = context();
    const result = await updateAdvisories(
      { osvUrl: baseUrl, sbom: SBOM, out, cwd: ROOT, today: '2026-12-06', readPackages: async () => installed },
      ctx,
    );

    const first = received[0]!;
    const asked = first.map((q) => `${q.package.ecosystem} ${q.package.name}${q.version ? `@${q.version}` : ''}`).sort();
    assert.deepEqual(asked, [
      'Debian:13 glibc@2.41-12',
      'Debian:13 openssl@3.5.1-1',
      'Debian:13 tzdata@2025b-4+deb13u1',
      'npm @koa/router',
      'npm koa',
      'npm semver',
    ]);
    assert.deepEqual(
      received[1],
      [{ package: { name: 'koa', ecosystem: 'npm' }, page_token: 'koa-2' }],
      'the next page is asked for',
    );
    assert.deepEqual(result.added, ['DSA-TEST-0001', 'GHSA-fixture-koa-0001', 'GHSA-fixture-koa-0002']);
    assert.deepEqual(result.queried, { npm: 3, debian: 3 });

    const snapshot = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(snapshot.retrieved, '2026-12-06');
    assert.match(snapshot.sources[0], /^2026-12-06: OSV http:\/\/127\.0\.0\.1:\d+ \(3 npm packages, 3 Debian source packages\)$/);
    assert.equal(snapshot.sources[1], '2026-10-01: earlier refresh');
    assert.deepEqual(
      snapshot.vulns.map((r: OsvRecord) => r.id),
      ['DSA-TEST-0001', 'GHSA-fixture-koa-0001', 'GHSA-fixture-koa-0002', 'GHSA-kept-by-hand-0001'],
    );
    assert.deepEqual(snapshot.vulns[0], DEBIAN_FIXTURE, 'records are stored as OSV served them');

    // The refreshed snapshot drives the gate: the image's openssl is below the fix.
    const gate = context({ CI: 'true' });
    const ignoreFile = join(dir, 'ignore.json');
    writeFileSync(ignoreFile, '[]');
    await assert.rejects(
      audit({ sbom: SBOM, advisories: out, cwd: ROOT, today: '2026-12-06', ignoreFile }, gate.ctx),
      CheckFailedError,
    );
    const report = JSON.parse(gate.captured.stdout());
    assert.deepEqual(report.failures.filter((f: string) => f.startsWith('DSA-TEST-0001')).length, 2, report.failures.join('\n'));
    assert.equal(report.advisoryData.retrieved, '2026-12-06');
  });

  it('an OSV error is reported with its URL and leaves the snapshot as it was', async () => {
    const out = join(dir, 'untouched.osv.json');
    writeFileSync(out, JSON.stringify({ retrieved: '2026-12-01', sources: [], vulns: [] }));
    const code = await main(
      ['audit', 'update-advisories', '--osv-url', `${baseUrl}/broken`, '--out', out, '--sbom', SBOM],
      captureIo().io,
    );
    assert.equal(code, 1);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).retrieved, '2026-12-01');
  });
});
