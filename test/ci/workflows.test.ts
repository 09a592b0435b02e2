import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkWorkflow } from './workflow-policy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOWS = join(ROOT, '.github', 'workflows');
const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
const release = readFileSync(join(WORKFLOWS, 'release.yml'), 'utf8');
/** A GitHub Actions expression as written in a workflow. */
const gha = (expression: string) => `\${{ ${expression} }}`;

/** release.yml with one change; the change must apply, or the case would test the unchanged file. */
function releaseWith(from: string | RegExp, to: string): string {
  const changed = release.replace(from, to);
  assert.notEqual(changed, release, `the fixture edit ${from} did not apply to release.yml`);
  return changed;
}

describe('the workflows in .github/workflows', () => {
  it('are the release, rebuild and ci workflows', () => {
    assert.deepEqual(files.sort(), ['ci.yml', 'rebuild.yml', 'release.yml']);
  });

  for (const file of files) {
    it(`${file} follows the pinning, permission, secret and gating rules`, () => {
      assert.deepEqual(checkWorkflow(readFileSync(join(WORKFLOWS, file), 'utf8')), []);
    });
  }

  it('release.yml chains scan → sign → deploy bump, and the scan fails on fixable HIGH/CRITICAL', () => {
    const { jobs } = parse(release) as {
      jobs: Record<string, { needs?: string[] | string; steps: { uses?: string; with?: Record<string, unknown> }[] }>;
    };
    assert.deepEqual(jobs.sign?.needs, ['build', 'scan']);
    assert.deepEqual(jobs['deploy-bump']?.needs, ['build', 'sign']);
    const trivy = jobs.scan?.steps.find((s) => s.uses?.startsWith('aquasecurity/trivy-action@'));
    assert.equal(trivy?.with?.['exit-code'], '1');
    assert.equal(trivy?.with?.['ignore-unfixed'], true);
    assert.equal(trivy?.with?.severity, 'HIGH,CRITICAL');
  });

  it('ci.yml runs .ci/run on Node 24 and 26, selecting the line through CI_NODE_LINE', () => {
    const ci = parse(readFileSync(join(WORKFLOWS, 'ci.yml'), 'utf8')) as {
      jobs: { test: { strategy: { matrix: { node: string[] } }; steps: { run?: string; env?: Record<string, string> }[] } };
    };
    assert.deepEqual(ci.jobs.test.strategy.matrix.node, ['24', '26']);
    const run = ci.jobs.test.steps.find((s) => s.run === 'bash .ci/run');
    assert.equal(run?.env?.CI_NODE_LINE, gha('matrix.node'));
  });

  it('release.yml stops at once when started from anything but a v* tag', () => {
    const { jobs } = parse(release) as { jobs: { test: { steps: { name?: string; run?: string }[] } } };
    const guard = jobs.test.steps[0];
    assert.equal(guard?.name, 'Releases are made from tags only');
    const run = (ref: string) =>
      spawnSync('bash', ['-e', '-c', guard?.run ?? ''], { env: { GITHUB_REF: ref }, encoding: 'utf8' });
    assert.equal(run('refs/tags/v0.2.0').status, 0);
    for (const ref of ['refs/heads/main', 'refs/tags/0.2.0', 'refs/pull/7/merge']) {
      const r = run(ref);
      assert.equal(r.status, 1, ref);
      assert.match(r.stderr, /run this workflow from a tag/);
    }
  });

  it('.ci/run refuses a Node line it does not support before installing anything', () => {
    const r = spawnSync('bash', [join(ROOT, '.ci', 'run')], { env: { ...process.env, CI_NODE_LINE: '22' }, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CI_NODE_LINE must be 24 or 26, got 22/);
    assert.doesNotMatch(r.stdout, /npm ci/);
  });
});

describe('the workflow checker', () => {
  const cases: [string, string, RegExp][] = [
    [
      'an action pinned to a tag',
      releaseWith(/actions\/checkout@[0-9a-f]{40} # v7\.0\.1/, 'actions/checkout@v7'),
      /actions\/checkout@v7 is not pinned to a full 40-hex commit SHA/,
    ],
    [
      'an action pinned to a short SHA',
      releaseWith(/sigstore\/cosign-installer@[0-9a-f]{40}/, 'sigstore/cosign-installer@6f9f177'),
      /cosign-installer@6f9f177 is not pinned/,
    ],
    [
      'a SHA pin without the version comment',
      releaseWith(/(docker\/login-action@[0-9a-f]{40}) # v4\.1\.0/, '$1'),
      /login-action@[0-9a-f]{40} has no "# vX\.Y\.Z" comment/,
    ],
    [
      'a docker:// action by tag',
      releaseWith('      - name: secops release pin\n', '      - uses: docker://alpine:3\n      - name: secops release pin\n'),
      /docker:\/\/alpine:3 is not pinned by sha256 digest/,
    ],
    [
      'a job without permissions',
      releaseWith(/( {2}build:\n(?: {4}.*\n)*?) {4}permissions:\n {6}contents: read\n {6}packages: write\n/, '$1'),
      /job build declares no permissions/,
    ],
    [
      'write access at the top level',
      releaseWith('permissions: {}\n', 'permissions: write-all\n'),
      /top-level permissions grant write/,
    ],
    [
      'id-token: write on a job that does not sign',
      releaseWith(/( {2}test:\n(?: {4}.*\n)*? {4}permissions:\n {6}contents: read\n)/, '$1      id-token: write\n'),
      /job test has id-token: write but neither signs nor attests/,
    ],
    [
      'packages: write on a job that neither pushes nor signs',
      releaseWith(/( {2}scan:\n(?: {4}.*\n)*? {6})packages: read/, '$1packages: write'),
      /job scan has packages: write but neither pushes nor signs/,
    ],
    [
      'a long-lived secret',
      releaseWith(`password: ${gha('secrets.GITHUB_TOKEN')}`, `password: ${gha('secrets.GHCR_PAT')}`),
      /secrets\.GHCR_PAT: only GITHUB_TOKEN/,
    ],
    [
      'a deploy bump that does not wait for the scan',
      releaseWith(/ {4}needs: \[build, sign\]/, '    needs: build'),
      /job deploy-bump moves a deployment without needing a scan job/,
    ],
    [
      'signing that does not wait for the scan',
      releaseWith(/ {4}needs: \[build, scan\]/, '    needs: build'),
      /job sign signs without needing a scan job/,
    ],
    [
      'a scan that does not fail',
      releaseWith("exit-code: '1'", "exit-code: '0'"),
      /job deploy-bump moves a deployment without needing a scan job/,
    ],
    [
      'a scan that ignores CRITICAL',
      releaseWith('severity: HIGH,CRITICAL', 'severity: HIGH'),
      /job sign signs without needing a scan job that fails on fixable HIGH\/CRITICAL/,
    ],
    [
      'a scan that stops at unfixed findings only when told',
      releaseWith('ignore-unfixed: true', 'ignore-unfixed: false'),
      /job deploy-bump moves a deployment without needing a scan job/,
    ],
  ];

  for (const [name, text, expected] of cases) {
    it(`reports ${name}`, () => {
      const problems = checkWorkflow(text);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got:\n${problems.join('\n')}`,
      );
    });
  }

  it('accepts local actions unpinned and a docker:// image pinned by digest', () => {
    const text = releaseWith(
      '      - name: secops release pin\n',
      `      - uses: ./.github/actions/local\n      - uses: docker://alpine@sha256:${'a'.repeat(64)}\n      - name: secops release pin\n`,
    );
    assert.deepEqual(checkWorkflow(text), []);
  });
});
