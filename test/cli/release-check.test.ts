import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { run as check, type ReleaseCheckOptions, type ReleaseCheckReport } from '../../cli/src/commands/release-check.js';
import { run as pin } from '../../cli/src/commands/release-pin.js';
import { run as trivyIgnore } from '../../cli/src/commands/release-trivy-ignore.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CliError } from '../../cli/src/lib/errors.js';
import { checkChangelog } from '../../cli/src/lib/supply-chain/release-gate.js';
import { captureIo } from './capture.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
const BUILT = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;

function git(cwd: string, ...args: string[]) {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd, env: GIT_ENV })
    .toString()
    .trim();
}

function kustomization(digest: string) {
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'images:',
    '  # Set by the release pipeline',
    '  - name: ghcr.io/rampart/rampart',
    `    digest: ${digest}`,
    '',
  ].join('\n');
}

/** A committed repository shaped like this one: package.json 0.2.0, a changelog entry, two overlays. */
function fixture(t: TestContext, digests: { staging: string; production: string } = { staging: BUILT, production: BUILT }) {
  const repo = mkdtempSync(join(tmpdir(), 'secops-release-check-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'x', version: '0.2.0' }));
  writeFileSync(join(repo, 'CHANGELOG.md'), '# Changelog\n\n## 0.2.0 (2026-12-06)\n\n- feat: things\n\n## 0.1.0 (2026-11-01)\n');
  for (const env of ['staging', 'production'] as const) {
    mkdirSync(join(repo, 'k8s', 'overlays', env), { recursive: true });
    writeFileSync(join(repo, 'k8s', 'overlays', env, 'kustomization.yaml'), kustomization(digests[env]));
  }
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'chore: release 0.2.0');
  return repo;
}

function context(env: Record<string, string> = {}, json = true) {
  const captured = captureIo(env);
  const ctx = createContext(captured.io, { json, databaseUrl: undefined }, async () => {
    throw new Error('no database');
  });
  return { ctx, ...captured };
}

/** Runs the check; a failure's exit code and the --json report come back instead of a throw. */
async function runCheck(options: ReleaseCheckOptions, env: Record<string, string> = {}) {
  const { ctx, stdout } = context(env);
  try {
    await check(options, ctx);
    return { exitCode: 0, report: JSON.parse(stdout()) as ReleaseCheckReport };
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return { exitCode: err.exitCode, report: JSON.parse(stdout()) as ReleaseCheckReport };
  }
}

const failedNames = (report: ReleaseCheckReport) => report.checks.filter((c) => !c.ok).map((c) => c.name);

describe('secops release check', () => {
  it('passes when the tag is the package version, the changelog has it, the tree is clean and every overlay pins the digest', async (t) => {
    const repo = fixture(t);
    const { exitCode, report } = await runCheck({ cwd: repo, tag: 'v0.2.0', imageDigest: BUILT, expectBuilt: true });
    assert.equal(exitCode, 0);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['tag', 'changelog', 'clean-tree', 'image-digest'],
    );
  });

  it('lists every failed check at once and exits 1', async (t) => {
    const repo = fixture(t, { staging: BUILT, production: OTHER });
    writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'x', version: '0.3.0' }));
    const { exitCode, report } = await runCheck({ cwd: repo, tag: 'v0.3.0', imageDigest: BUILT });
    assert.equal(exitCode, 1);
    assert.deepEqual(failedNames(report), ['changelog', 'clean-tree', 'image-digest']);
    const digest = report.checks.find((c) => c.name === 'image-digest');
    assert.match(
      digest?.detail ?? '',
      /k8s\/overlays\/production\/kustomization\.yaml pins ghcr\.io\/rampart\/rampart at sha256:cdcd/,
    );
    assert.doesNotMatch(digest?.detail ?? '', /staging/);
  });

  it('fails a tag that differs from package.json or is not v<semver>', async (t) => {
    const repo = fixture(t);
    for (const tag of ['v0.2.1', '0.2.0', 'v0.2', 'release-0.2.0']) {
      const { exitCode, report } = await runCheck({ cwd: repo, tag });
      assert.equal(exitCode, 1, tag);
      assert.ok(failedNames(report).includes('tag'), tag);
    }
  });

  it('takes the tag from GITHUB_REF_NAME when --tag is not given, and fails without either', async (t) => {
    const repo = fixture(t);
    assert.equal((await runCheck({ cwd: repo }, { GITHUB_REF_NAME: 'v0.2.0' })).exitCode, 0);
    const { exitCode, report } = await runCheck({ cwd: repo });
    assert.equal(exitCode, 1);
    assert.deepEqual(failedNames(report), ['tag']);
  });

  it('counts an untracked file as an unclean tree', async (t) => {
    const repo = fixture(t);
    writeFileSync(join(repo, 'stray.txt'), 'not committed\n');
    const { report } = await runCheck({ cwd: repo, tag: 'v0.2.0' });
    assert.deepEqual(failedNames(report), ['clean-tree']);
    assert.match(report.checks.find((c) => c.name === 'clean-tree')?.detail ?? '', /stray\.txt/);
  });

  it('with --expect-built, a missing or empty --image-digest fails instead of skipping the digest check', async (t) => {
    const repo = fixture(t);
    assert.equal((await runCheck({ cwd: repo, tag: 'v0.2.0' })).exitCode, 0, 'without --expect-built the digest is optional');
    for (const imageDigest of [undefined, '']) {
      const { exitCode, report } = await runCheck({ cwd: repo, tag: 'v0.2.0', imageDigest, expectBuilt: true });
      assert.equal(exitCode, 1);
      assert.deepEqual(failedNames(report), ['image-digest']);
    }
  });

  it('refuses an image reference that is not a sha256 digest', async (t) => {
    const repo = fixture(t);
    const { report } = await runCheck({ cwd: repo, tag: 'v0.2.0', imageDigest: 'latest' });
    assert.deepEqual(failedNames(report), ['image-digest']);
  });

  it('finds the changelog entry in either heading style, never in Unreleased or a pre-release', () => {
    assert.equal(checkChangelog('## [0.2.0] - 2026-12-06\n', '0.2.0').ok, true);
    assert.equal(checkChangelog('## v0.2.0\n', '0.2.0').ok, true);
    assert.equal(checkChangelog('## Unreleased\n\n- 0.2.0 soon\n', '0.2.0').ok, false);
    assert.equal(checkChangelog('## 0.2.0-rc.1 (2026-12-01)\n', '0.2.0').ok, false);
    assert.equal(checkChangelog('## 0.2.01\n', '0.2.0').ok, false);
    assert.equal(checkChangelog(null, '0.2.0').ok, false);
  });
});

describe('secops release pin', () => {
  it('pins every overlay at the digest, keeps comments, drops a newTag, and the check then passes', async (t) => {
    const repo = fixture(t, { staging: OTHER, production: OTHER });
    const staging = join(repo, 'k8s', 'overlays', 'staging', 'kustomization.yaml');
    writeFileSync(staging, readFileSync(staging, 'utf8').replace(`    digest: ${OTHER}`, '    newTag: "0.1.0"'));
    const { ctx } = context();
    const result = await pin({ cwd: repo, imageDigest: BUILT }, ctx);
    assert.deepEqual(result.files, ['k8s/overlays/production/kustomization.yaml', 'k8s/overlays/staging/kustomization.yaml']);
    const text = readFileSync(staging, 'utf8');
    assert.match(text, /# Set by the release pipeline/);
    assert.match(text, new RegExp(`digest: ${BUILT}`));
    assert.doesNotMatch(text, /newTag/);
    git(repo, 'commit', '-q', '-am', 'deploy: pin');
    assert.equal((await runCheck({ cwd: repo, tag: 'v0.2.0', imageDigest: BUILT, expectBuilt: true })).exitCode, 0);
  });

  it('refuses anything but sha256:<64 hex> with a usage error and leaves the overlays alone', async (t) => {
    const repo = fixture(t);
    const { ctx } = context();
    for (const imageDigest of ['0.2.0', `sha256:${'ab'.repeat(31)}`, `sha256:${'AB'.repeat(32)}`]) {
      await assert.rejects(pin({ cwd: repo, imageDigest }, ctx), (err: CliError) => err.exitCode === 2);
    }
    assert.equal(git(repo, 'status', '--porcelain'), '');
  });
});

describe('secops release trivy-ignore', () => {
  function ignoreFile(t: TestContext, entries: unknown) {
    const dir = mkdtempSync(join(tmpdir(), 'secops-trivy-ignore-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'audit-ignore.json'), JSON.stringify(entries));
    return { ignore: join(dir, 'audit-ignore.json'), out: join(dir, 'trivyignore.yaml') };
  }

  it("writes each live accepted advisory with its reason as Trivy's statement and its expiry as expired_at", async (t) => {
    const files = ignoreFile(t, [{ id: 'CVE-2026-0001', reason: 'not reachable: no TLS client', expires: '2026-12-31' }]);
    const { ctx } = context();
    const result = await trivyIgnore({ ignoreFile: files.ignore, out: files.out, today: '2026-12-06' }, ctx);
    assert.deepEqual(result.ids, ['CVE-2026-0001']);
    const yaml = readFileSync(files.out, 'utf8');
    assert.match(yaml, /- id: CVE-2026-0001\n\s+statement: "?not reachable: no TLS client"?\n\s+expired_at: "?2026-12-31"?/);
  });

  it('fails on an expired entry or one without a reason, and writes nothing', async (t) => {
    for (const entries of [
      [{ id: 'CVE-2026-0002', reason: 'waiting for Debian', expires: '2026-12-05' }],
      [{ id: 'CVE-2026-0003', expires: '2026-12-31' }],
    ]) {
      const files = ignoreFile(t, entries);
      const { ctx, stderr } = context();
      await assert.rejects(
        trivyIgnore({ ignoreFile: files.ignore, out: files.out, today: '2026-12-06' }, ctx),
        (err: CliError) => err.exitCode === 1,
      );
      assert.match(stderr(), /expired on 2026-12-05|needs reason/);
      assert.equal(existsSync(files.out), false);
    }
  });
});
