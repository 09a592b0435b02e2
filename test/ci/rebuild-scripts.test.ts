import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The shell steps of .github/workflows/rebuild.yml, run here as GitHub would run them (bash, the step's
 * env, GITHUB_OUTPUT) against fixtures: the base-digest pin and the scan summary kept in the repository.
 * The build, Syft and Trivy themselves need a container engine and run only on GitHub.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const rebuild = parse(readFileSync(join(ROOT, '.github', 'workflows', 'rebuild.yml'), 'utf8')) as {
  jobs: { rebuild: { steps: { name?: string; run?: string; env?: Record<string, string> }[] } };
};

function script(name: string): string {
  const step = rebuild.jobs.rebuild.steps.find((s) => s.name === name);
  assert.ok(step?.run, `rebuild.yml has a step "${name}" with a run script`);
  return step.run;
}

function workdir(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-rebuild-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function bash(cwd: string, run: string, env: Record<string, string>) {
  return spawnSync('bash', ['-e', '-o', 'pipefail', '-c', run], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
}

const PINNED = /node:26\.8\.1-trixie-slim@(sha256:[0-9a-f]{64})/;
const NEW = `sha256:${'1f'.repeat(32)}`;

describe('rebuild.yml: resolving the base digest', () => {
  const run = script("Resolve the base image's current digest and pin it on every FROM");

  function repo(t: TestContext) {
    const dir = workdir(t);
    copyFileSync(join(ROOT, 'Dockerfile'), join(dir, 'Dockerfile'));
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-q', '--allow-empty', '-m', 'x'], {
      cwd: dir,
    });
    return dir;
  }

  it('moves every FROM to a dispatched digest and reports the image and digest', (t) => {
    const dir = repo(t);
    const old = PINNED.exec(readFileSync(join(dir, 'Dockerfile'), 'utf8'))?.[1];
    const r = bash(dir, run, { DISPATCHED_DIGEST: NEW, GITHUB_OUTPUT: join(dir, 'out') });
    assert.equal(r.status, 0, r.stderr);
    const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    assert.equal(dockerfile.match(/^FROM /gm)?.length, dockerfile.split(`node:26.8.1-trixie-slim@${NEW}`).length - 1);
    assert.ok(old && !dockerfile.includes(old));
    const out = readFileSync(join(dir, 'out'), 'utf8');
    assert.match(out, /^image=node:26\.8\.1-trixie-slim$/m);
    assert.match(out, new RegExp(`^digest=${NEW}$`, 'm'));
  });

  it('refuses a dispatched value that is not a sha256 digest and leaves the Dockerfile alone', (t) => {
    const dir = repo(t);
    const before = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    const r = bash(dir, run, { DISPATCHED_DIGEST: 'sha256:abc;touch injected', GITHUB_OUTPUT: join(dir, 'out') });
    assert.notEqual(r.status, 0);
    assert.equal(existsSync(join(dir, 'injected')), false);
    assert.match(r.stderr, /not a sha256 digest/);
    assert.equal(readFileSync(join(dir, 'Dockerfile'), 'utf8'), before);
  });
});

describe('rebuild.yml: the scan result kept in the repository', () => {
  const run = script('The scan result as it is kept in the repository');
  const trivy = {
    Results: [
      {
        Target: 'rampart:rebuild (debian 13.2)',
        Vulnerabilities: [
          {
            VulnerabilityID: 'CVE-2026-1111',
            PkgName: 'libssl3t64',
            InstalledVersion: '3.5.1-1',
            FixedVersion: '3.5.1-1+deb13u1',
          },
          {
            VulnerabilityID: 'CVE-2026-1111',
            PkgName: 'libssl3t64',
            InstalledVersion: '3.5.1-1',
            FixedVersion: '3.5.1-1+deb13u1',
          },
        ],
      },
      {
        Target: 'Node.js',
        Vulnerabilities: [
          { VulnerabilityID: 'GHSA-aaaa-bbbb-cccc', PkgName: 'x', InstalledVersion: '1.0.0', FixedVersion: '1.0.1' },
        ],
      },
      { Target: 'no findings' },
    ],
  };

  it('lists each fixable finding once, sorted, with the base it was found on', (t) => {
    const dir = workdir(t);
    mkdirSync(join(dir, 'build'));
    mkdirSync(join(dir, '.secops'));
    writeFileSync(join(dir, 'build', 'trivy.json'), JSON.stringify(trivy));
    const r = bash(dir, run, { BASE: `node:26.8.1-trixie-slim@${NEW}` });
    assert.equal(r.status, 0, r.stderr);
    const kept = JSON.parse(readFileSync(join(dir, '.secops', 'image-findings.json'), 'utf8'));
    assert.equal(kept.base, `node:26.8.1-trixie-slim@${NEW}`);
    assert.deepEqual(kept.fixable, [
      'CVE-2026-1111 libssl3t64 3.5.1-1 -> 3.5.1-1+deb13u1',
      'GHSA-aaaa-bbbb-cccc x 1.0.0 -> 1.0.1',
    ]);
  });

  it('records an empty list for a clean scan, so an unchanged clean result opens no pull request', (t) => {
    const dir = workdir(t);
    mkdirSync(join(dir, 'build'));
    mkdirSync(join(dir, '.secops'));
    writeFileSync(join(dir, 'build', 'trivy.json'), JSON.stringify({ Results: [{ Target: 'x' }] }));
    assert.equal(bash(dir, run, { BASE: 'b' }).status, 0);
    const first = readFileSync(join(dir, '.secops', 'image-findings.json'), 'utf8');
    assert.deepEqual(JSON.parse(first).fixable, []);
    assert.equal(bash(dir, run, { BASE: 'b' }).status, 0);
    assert.equal(readFileSync(join(dir, '.secops', 'image-findings.json'), 'utf8'), first, 'the file is byte-for-byte stable');
  });
});
