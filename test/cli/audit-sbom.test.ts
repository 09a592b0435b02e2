import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type AuditOptions, type AuditReport, run } from '../../cli/src/commands/audit.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CheckFailedError } from '../../cli/src/lib/errors.js';
import { main } from '../../cli/src/main.js';
import { packagesFromSbom, parsePurl } from '../../cli/src/lib/supply-chain/sbom-components.js';
import { captureIo } from './capture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const SBOM = join(FIXTURES, 'image-sbom.cdx.json');
const OPENSSL_ADVISORY = join(FIXTURES, 'debian-openssl-advisory.osv.json');
const POLICY = { allow: ['MIT', 'ISC', 'Apache-2.0'], exceptions: [], banned: [] as { package: string; reason: string }[] };

const dir = mkdtempSync(join(tmpdir(), 'secops-audit-sbom-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function write(name: string, document: unknown): string {
  const path = join(dir, `${files++}-${name}`);
  writeFileSync(path, JSON.stringify(document));
  return path;
}

/** The SBOM fixture with one component's version (and purl) replaced. */
function sbomWith(name: string, version: string): string {
  const bom = JSON.parse(readFileSync(SBOM, 'utf8'));
  for (const c of bom.components) {
    if (c.name !== name) continue;
    c.version = version;
    c.purl = c.purl.replace(/@[^?]+/, `@${encodeURIComponent(version)}`);
  }
  return write('image.cdx.json', bom);
}

/** Runs `secops audit --sbom` with the fixture files; `env` is the process environment (CI). */
async function gate(
  extra: Partial<AuditOptions> & { policy?: typeof POLICY; ignore?: unknown[]; env?: Record<string, string> } = {},
) {
  const { policy, ignore, env, ...options } = extra;
  const captured = captureIo(env ?? {});
  const ctx = createContext(captured.io, { json: true, databaseUrl: undefined }, async () => {
    throw new Error('the audit needs no database');
  });
  const all: AuditOptions = {
    sbom: SBOM,
    advisories: OPENSSL_ADVISORY,
    licenses: write('licenses.json', policy ?? POLICY),
    ignoreFile: write('ignore.json', ignore ?? []),
    cwd: ROOT,
    today: '2026-12-06',
    ...options,
  };
  try {
    await run(all, ctx);
    return { ok: true, report: JSON.parse(captured.stdout()) as AuditReport, stderr: captured.stderr() };
  } catch (err) {
    assert.ok(err instanceof CheckFailedError, `expected a failed check, got ${String(err)}`);
    return { ok: false, report: JSON.parse(captured.stdout()) as AuditReport, stderr: captured.stderr() };
  }
}

describe('secops audit --sbom (an image SBOM against OSV data)', () => {
  it('reads npm and Debian components from package URLs, keeping the Debian source package', () => {
    const { packages, unchecked, problems } = packagesFromSbom(JSON.parse(readFileSync(SBOM, 'utf8')));
    assert.deepEqual(problems, []);
    assert.deepEqual(
      packages.map((p) => `${p.ecosystem} ${p.name}@${p.version}${p.sourceName ? ` (${p.sourceName})` : ''}`),
      [
        'npm @koa/router@15.7.0',
        'npm koa@3.3.0',
        'Debian:13 libc6@2.41-12 (glibc)',
        'Debian:13 libssl3t64@3.5.1-1 (openssl)',
        'Debian:13 openssl@3.5.1-1',
        'Debian:13 tzdata@2025b-4+deb13u1',
      ],
    );
    assert.deepEqual(
      unchecked.map((u) => u.name),
      ['/app/bin/secops.js'],
    );
    assert.equal(parsePurl('pkg:npm/%40koa/router@15.7.0')?.namespace[0], '@koa');
  });

  it('fails (exit 1) on a HIGH Debian advisory whose fixed version is above the installed one, for the source and its binary packages', async () => {
    const r = await gate();
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.report.vulnerabilities.map((v) => `${v.id} ${v.ecosystem} ${v.package}@${v.version} ${v.severity} ${v.blocking}`),
      ['DSA-TEST-0001 Debian:13 libssl3t64@3.5.1-1 high true', 'DSA-TEST-0001 Debian:13 openssl@3.5.1-1 high true'],
    );
    assert.deepEqual(r.report.sbom && { npm: r.report.sbom.npm, debian: r.report.sbom.debian }, { npm: 2, debian: 4 });
    const cli = captureIo();
    const code = await main(
      [
        '--json',
        'audit',
        '--sbom',
        SBOM,
        '--advisories',
        OPENSSL_ADVISORY,
        '--licenses',
        write('l.json', POLICY),
        '--ignore-file',
        write('i.json', []),
      ],
      cli.io,
    );
    assert.equal(code, 1);
    assert.equal(JSON.parse(cli.stdout()).ok, false);
  });

  it('passes when the packages are at the fixed version or later (Debian ordering, not text)', async () => {
    for (const version of ['3.5.1-1+deb13u1', '3.5.1-1+deb13u10', '3.5.4-1~deb13u1', '1:3.0.0-1']) {
      const fixedBoth = JSON.parse(readFileSync(sbomWith('openssl', version), 'utf8'));
      for (const c of fixedBoth.components)
        if (c.name === 'libssl3t64') {
          c.version = version;
          c.purl = c.purl.replace(/@[^?]+/, `@${encodeURIComponent(version)}`);
        }
      const r = await gate({ sbom: write('fixed.cdx.json', fixedBoth) });
      assert.equal(r.ok, true, `${version}: ${r.report.failures.join('; ')}`);
      assert.deepEqual(r.report.vulnerabilities, []);
    }
  });

  it('still fails for a version below the fix that sorts above it as text (a ~ pre-release of the fix)', async () => {
    const r = await gate({ sbom: sbomWith('openssl', '3.5.1-1+deb13u1~rc1') });
    assert.equal(r.ok, false);
    assert.ok(r.report.vulnerabilities.some((v) => v.package === 'openssl' && v.version === '3.5.1-1+deb13u1~rc1'));
  });

  it('an advisory for another Debian release does not apply', async () => {
    const advisory = JSON.parse(readFileSync(OPENSSL_ADVISORY, 'utf8'));
    advisory.vulns[0].affected[0].package.ecosystem = 'Debian:12';
    const r = await gate({ advisories: write('bookworm.osv.json', advisory) });
    assert.equal(r.ok, true, r.report.failures.join('; '));
  });

  it('a valid ignore entry (by id or alias) lets it pass; once expired it fails again', async () => {
    const entry = { id: 'CVE-TEST-0001', reason: 'the image never loads TLS keys from untrusted input', expires: '2026-12-31' };
    const within = await gate({ ignore: [entry] });
    assert.equal(within.ok, true, within.report.failures.join('; '));
    assert.ok(within.report.vulnerabilities.every((v) => v.ignored?.expires === '2026-12-31'));

    const expired = await gate({ ignore: [{ ...entry, expires: '2026-12-05' }] });
    assert.equal(expired.ok, false);
    assert.ok(expired.report.failures.some((f) => /ignore entry CVE-TEST-0001 expired on 2026-12-05/.test(f)));
    assert.ok(expired.report.vulnerabilities.some((v) => v.blocking));
  });

  it('gates licences of npm components from the SBOM, not of Debian components (which declare none here)', async () => {
    const clean = await gate({ advisories: write('none.osv.json', { retrieved: '2026-12-06', vulns: [] }) });
    assert.equal(clean.ok, true, clean.report.failures.join('; '));
    const r = await gate({
      advisories: write('none.osv.json', { retrieved: '2026-12-06', vulns: [] }),
      policy: { ...POLICY, allow: ['ISC'] },
    });
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.report.licenses.violations.map((v) => `${v.package} ${v.license}`),
      ['@koa/router MIT', 'koa MIT'],
    );
  });

  it('a banned package fails the gate, a Debian one too', async () => {
    const r = await gate({
      advisories: write('none.osv.json', { retrieved: '2026-12-06', vulns: [] }),
      policy: { ...POLICY, banned: [{ package: 'tzdata', reason: 'fixture ban' }] },
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.report.banned, [{ package: 'tzdata', version: '2025b-4+deb13u1', reason: 'fixture ban' }]);
  });

  it('a Debian component without a release in its distro qualifier fails closed', async () => {
    const bom = JSON.parse(readFileSync(SBOM, 'utf8'));
    bom.components[4].purl = 'pkg:deb/debian/libc6@2.41-12?arch=amd64';
    const r = await gate({
      sbom: write('nodistro.cdx.json', bom),
      advisories: write('none.osv.json', { retrieved: '2026-12-06', vulns: [] }),
    });
    assert.equal(r.ok, false);
    assert.ok(r.report.failures.some((f) => /SBOM: pkg:deb\/debian\/libc6@2\.41-12\?arch=amd64: no Debian release/.test(f)));
  });
});

describe('secops audit: the advisory data has a date and a maximum age', () => {
  const dated = (retrieved?: string) =>
    write('dated.osv.json', { ...(retrieved ? { retrieved } : {}), sources: ['test'], vulns: [] });

  it('data within --max-advisory-age passes, also under CI', async () => {
    const r = await gate({ advisories: dated('2026-11-29'), env: { CI: 'true' } });
    assert.equal(r.ok, true, r.report.failures.join('; '));
    assert.deepEqual(r.report.advisoryData && { ageDays: r.report.advisoryData.ageDays, stale: r.report.advisoryData.stale }, {
      ageDays: 7,
      stale: false,
    });
  });

  it('older data warns on a developer machine and fails under CI=true, naming the date', async () => {
    const local = await gate({ advisories: dated('2026-11-28') });
    assert.equal(local.ok, true);
    assert.match(local.stderr, /advisory data is 8 days old \(retrieved 2026-11-28; --max-advisory-age 7\)/);

    const ci = await gate({ advisories: dated('2026-11-28'), env: { CI: 'true' } });
    assert.equal(ci.ok, false);
    assert.ok(ci.report.failures.some((f) => /stale advisory data: the advisory data is 8 days old/.test(f)));
    assert.equal((await gate({ advisories: dated('2026-11-28'), env: { CI: 'true' }, maxAdvisoryAge: 30 })).ok, true);
  });

  it('undated data counts as stale', async () => {
    const r = await gate({ advisories: dated(), env: { CI: 'true' } });
    assert.equal(r.ok, false);
    assert.ok(r.report.failures.some((f) => /records no retrieval date/.test(f)));
  });

  it('a bad --max-advisory-age is a usage error (exit 2)', async () => {
    assert.equal(await main(['audit', '--max-advisory-age', 'week'], captureIo().io), 2);
  });

  it('the committed snapshot is dated, says where it came from, and its records match real vulnerable versions', async () => {
    const committed = JSON.parse(readFileSync(join(ROOT, '.secops/advisories.osv.json'), 'utf8'));
    assert.match(committed.retrieved, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(committed.sources.length > 0, 'the snapshot says where its data came from');
    const old = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        { name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', licenses: [{ license: { id: 'MIT' } }] },
        { name: 'semver', version: '7.5.1', purl: 'pkg:npm/semver@7.5.1', licenses: [{ license: { id: 'ISC' } }] },
      ],
    };
    const r = await gate({
      sbom: write('old.cdx.json', old),
      advisories: join(ROOT, '.secops/advisories.osv.json'),
      today: committed.retrieved,
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.report.vulnerabilities.map((v) => `${v.id} ${v.package}@${v.version}`).sort(), [
      'GHSA-29mw-wpgm-hmr9 lodash@4.17.20',
      'GHSA-35jh-r3h4-6jhm lodash@4.17.20',
      'GHSA-c2qf-rxjj-qqgw semver@7.5.1',
    ]);
  });
});
