/**
 * `secops readiness`'s manifests, alerts, runbooks and Dockerfile tiers against copies of the
 * repository's own k8s/, alerts/, runbooks/ and Dockerfile in a temp dir: they pass as committed (with
 * the release pipeline's digest set), and each item turns `[ ]` with a precise message when its
 * copy is broken. --url points at a stand-in answering `{}`: only the items of these tiers are asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from '../../cli/src/lib/errors.js';
import { alertChecks } from '../../cli/src/lib/readiness/alerts.js';
import { renderOverlay } from '../../cli/src/lib/readiness/kustomize.js';
import { main } from '../../cli/src/main.js';
import { captureIo } from './capture.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIGEST = 'sha256:' + 'ab'.repeat(32);
const kubectlAvailable = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

interface Item {
  id: string;
  status: 'passed' | 'failed' | 'manual';
  evidence: string;
  checks: { id: string; status: string; evidence: string }[];
}
interface Report {
  ok: boolean;
  tiers: string[];
  items: Item[];
}

/** A copy of the deployment's files, the digest set as the release pipeline sets it. */
function copyDeployment(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-readiness-k8s-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['k8s', 'alerts', 'runbooks', '.github', '.ci', '.secops'])
    cpSync(join(ROOT, sub), join(dir, sub), { recursive: true });
  cpSync(join(ROOT, 'Dockerfile'), join(dir, 'Dockerfile'));
  for (const k of ['k8s/base/kustomization.yaml', 'k8s/overlays/production/kustomization.yaml'])
    edit(dir, k, (s) => s.replace(/sha256:0{64}/, DIGEST));
  return dir;
}

function edit(dir: string, file: string, change: (text: string) => string) {
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = change(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  writeFileSync(path, after);
}

/** The overlay's Deployment patch with more env entries for the api container (merged by name). */
const addEnv = (dir: string, vars: Record<string, string>) =>
  edit(dir, 'k8s/overlays/production/deployment.yaml', (s) =>
    s.replace(
      '          env:\n',
      `          env:\n${Object.entries(vars)
        .map(([name, value]) => `            - name: ${name}\n              value: ${JSON.stringify(value)}\n`)
        .join('')}`,
    ),
  );

describe('secops readiness: manifests, alerts, runbooks, pipeline and Dockerfile tiers', {
  skip: !kubectlAvailable && 'kubectl not installed',
}, () => {
  let url = '';
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  async function readiness(dir: string, extra: string[] = []) {
    const captured = captureIo({});
    const args = ['--json', 'readiness', '--url', url, '--timeout', '2s', '--kustomize', join(dir, 'k8s/overlays/production')];
    args.push(
      '--alerts-dir',
      join(dir, 'alerts'),
      '--runbooks-dir',
      join(dir, 'runbooks'),
      '--dockerfile',
      join(dir, 'Dockerfile'),
    );
    args.push(
      '--waf-config',
      join(dir, 'k8s/ingress-nginx/controller-configmap.yaml'),
      '--workflows',
      join(dir, '.github/workflows'),
      ...extra,
    );
    const code = await main(args, captured.io);
    const stdout = captured.stdout();
    return { code, stderr: captured.stderr(), report: stdout ? (JSON.parse(stdout) as Report) : undefined };
  }
  const item = (report: Report | undefined, id: string) => {
    const found = report?.items.find((i) => i.id === id);
    assert.ok(found, `no item ${id}`);
    return found;
  };
  const assertFailed = (report: Report | undefined, id: string, evidence: RegExp) => {
    const found = item(report, id);
    assert.equal(found.status, 'failed', `${id}: ${JSON.stringify(found)}`);
    assert.match(found.evidence, evidence);
  };

  /** Items these tiers prove on their own (the read-only ones fail against the stand-in). */
  const PROVEN_HERE = [
    'auth.jwt-secret',
    'config.secret-manager',
    'config.fail-startup',
    'config.rotation-doc',
    'config.image-digests',
    'db.retention',
    'db.backups',
    'obs.alerts',
    'net.forwarded-proto',
    'net.private-data',
    'net.redis-auth',
    'net.egress',
    'app.graceful-shutdown',
    'perf.scaling',
    'runbooks.incident-response',
    'runbooks.deploy-rollback',
    'runbooks.secret-rotation',
    'runbooks.backup-restore',
    'runbooks.on-call-escalation',
    'release.immutable-tags',
    'future.waf',
    'supply.audit',
    'supply.deny',
    'supply.sbom',
    'supply.image-scan',
    'release.tags-changelog',
  ];

  it('the repository’s manifests, alerts, runbooks, workflows and Dockerfile prove their items', async (t) => {
    const dir = copyDeployment(t);
    const { report, stderr } = await readiness(dir);
    assert.ok(report, stderr);
    assert.deepEqual(report.tiers, ['read-only', 'manifests', 'dockerfile', 'alerts', 'runbooks', 'pipeline']);
    for (const id of PROVEN_HERE) assert.equal(item(report, id).status, 'passed', `${id}: ${JSON.stringify(item(report, id))}`);
    assert.match(
      item(report, 'future.waf').evidence,
      /ConfigMap\/ingress-nginx-controller .*ModSecurity on, OWASP CRS on, SecRuleEngine On/,
    );
    assert.match(item(report, 'obs.alerts').evidence, /28 alerts in 1 file\(s\), all 28 required present/);
    assert.match(
      item(report, 'obs.alerts').evidence,
      /k8s\.prometheusrule: 28 alerts deployed, all 28 of --alerts-dir among them/,
    );
    // Optional tracing is off in these manifests: manual, not failed.
    assert.equal(item(report, 'obs.tracing').status, 'manual');
    assert.match(item(report, 'obs.tracing').evidence, /OTEL_EXPORTER_OTLP_ENDPOINT is not set/);
    // A probe-only item names the flag that would prove it.
    assert.match(item(report, 'auth.lockout').evidence, /needs --probe-account/);
  });

  it('the committed overlay’s placeholder digest fails the immutable-tags item', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/overlays/production/kustomization.yaml', (s) => s.replace(DIGEST, `sha256:${'0'.repeat(64)}`));
    const { code, report } = await readiness(dir);
    assert.equal(code, 1);
    assertFailed(
      report,
      'release.immutable-tags',
      /placeholder digest sha256:000…0 \(the release pipeline sets the real one: kustomize edit set image\): Deployment\/rampart-api api/,
    );
  });

  it('an image tag without a digest fails release.immutable-tags', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/overlays/production/kustomization.yaml', (s) => s.replace(`digest: ${DIGEST}`, 'newTag: latest'));
    edit(dir, 'k8s/base/kustomization.yaml', (s) => s.replace(`digest: ${DIGEST}`, 'newTag: latest'));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'release.immutable-tags',
      /not pinned by digest: Deployment\/rampart-api api \(ghcr\.io\/rampart\/rampart:latest\)/,
    );
  });

  it('removing the default-deny NetworkPolicy fails the egress and private-network items', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/base/networkpolicies.yaml', (s) =>
      s.replace(
        'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny-all\nspec:\n  podSelector: {}\n  policyTypes: ["Ingress", "Egress"]\n---\n',
        '',
      ),
    );
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'net.egress',
      /^k8s\.egress: no default-deny NetworkPolicy \(podSelector \{\}, Ingress and Egress, no rule\)$/,
    );
    assertFailed(report, 'net.private-data', /no default-deny NetworkPolicy: every destination is reachable/);
  });

  it('ALLOW_PLAINTEXT in the Deployment fails TLS on every hop and the Redis item', async (t) => {
    const dir = copyDeployment(t);
    addEnv(dir, { ALLOW_PLAINTEXT: 'redis' });
    const { report } = await readiness(dir);
    assertFailed(report, 'net.https-hsts', /k8s\.tls-hops: Deployment\/rampart-api api: ALLOW_PLAINTEXT=redis/);
    assertFailed(report, 'net.redis-auth', /ALLOW_PLAINTEXT lists redis \(no TLS, credentials in the clear\)/);
  });

  it('settings the Deployment weakens fail their items: verification off, unlimited model budget, a weak Argon2 cost, sessions of a year', async (t) => {
    const dir = copyDeployment(t);
    addEnv(dir, {
      EMAIL_VERIFICATION: 'off',
      MODEL_TOKENS_PER_DAY: '0',
      ARGON2_MEMORY_KIB: '8192',
      SESSION_MAX_AGE_SECONDS: '31536000',
    });
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'auth.email-validation',
      /k8s\.email-verification: Deployment\/rampart-api api: EMAIL_VERIFICATION=off: accounts sign in with unverified addresses/,
    );
    assertFailed(report, 'app.stream-cap', /k8s\.model-budgets: .*MODEL_TOKENS_PER_DAY=0 \(unlimited\)/);
    assertFailed(report, 'auth.argon2', /k8s\.argon2: .*ARGON2_MEMORY_KIB=8192 < 19456/);
    assertFailed(report, 'auth.refresh-tokens', /k8s\.sessions: .*SESSION_MAX_AGE_SECONDS=31536000 > 7776000/);
  });

  it('a per-user cap of concurrent model calls above 10 fails the stream-cap item; the default (3) passes it', async (t) => {
    const passing = await readiness(copyDeployment(t));
    const item = passing.report?.items.find((i) => i.id === 'app.stream-cap');
    assert.equal(item?.status, 'passed', JSON.stringify(item));
    assert.match(JSON.stringify(item), /MAX_MODEL_CALLS_PER_USER=3 \(default\), MAX_MODEL_CALLS_TOTAL=/);
    const dir = copyDeployment(t);
    addEnv(dir, { MAX_MODEL_CALLS_PER_USER: '50' });
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'app.stream-cap',
      /k8s\.stream-cap: Deployment\/rampart-api api: MAX_MODEL_CALLS_PER_USER=50: more than 10 concurrent model calls per user/,
    );
  });

  it('a Deployment without Redis fails the distributed-limits and scaling items: limits would be per replica', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/base/deployment.yaml', (text) => text.replace(/ {12}- name: REDIS_URL_FILE\n {14}value: \S+\n/, ''));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'future.distributed-limits',
      /k8s\.redis: Deployment\/rampart-api api: REDIS_URL unset: limits, lockouts and revocations are per replica/,
    );
    assertFailed(report, 'perf.scaling', /k8s\.redis: .*REDIS_URL unset/);
  });

  it('workload hardening undone fails its items: a probe, the PDB, limits, a writable root, a short grace period, TLS at the Ingress', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/base/deployment.yaml', (s) =>
      s
        .replace(/ {10}livenessProbe:\n(?: {12}.*\n)+/, '')
        .replace('readOnlyRootFilesystem: true', 'readOnlyRootFilesystem: false')
        .replace('terminationGracePeriodSeconds: 45', 'terminationGracePeriodSeconds: 20'),
    );
    edit(dir, 'k8s/base/kustomization.yaml', (s) => s.replace('  - pdb.yaml\n', ''));
    edit(dir, 'k8s/base/job-migrate.yaml', (s) => s.replace(/ {12}limits:\n {14}cpu: "1"\n {14}memory: 512Mi\n/, ''));
    edit(dir, 'k8s/overlays/production/ingress.yaml', (s) => s.replace(/ {2}tls:\n(?: {4}.*\n)+/, ''));
    edit(dir, 'k8s/base/ingress.yaml', (s) => s.replace(/ {2}tls:\n(?: {4}.*\n)+/, ''));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'app.graceful-shutdown',
      /k8s\.shutdown: Deployment\/rampart-api api: grace 20s for preStop 5s \+ delay 5s \+ drain 25s = 35s/,
    );
    assertFailed(
      report,
      'app.graceful-shutdown',
      /k8s\.probes: without liveness or readiness probe: Deployment\/rampart-api api/,
    );
    assertFailed(report, 'perf.scaling', /k8s\.pdb: no PodDisruptionBudget selects Deployment\/rampart-api/);
    assertFailed(
      report,
      'perf.scaling',
      /k8s\.resources: without cpu and memory requests and limits: Job\/rampart-migrate secops/,
    );
    assertFailed(
      report,
      'config.fail-startup',
      /k8s\.security-context: Deployment\/rampart-api api: needs readOnlyRootFilesystem/,
    );
    assertFailed(report, 'net.https-hsts', /k8s\.ingress-tls: Ingress\/rampart-api: api\.rampart\.example without TLS/);
  });

  it('secrets and settings undone fail their items: a plain JWT_SECRET, development mode, a wide proxy range, no MFA keyring, plaintext tracing', async (t) => {
    const dir = copyDeployment(t);
    addEnv(dir, {
      JWT_SECRET: 'x'.repeat(64),
      NODE_ENV: 'development',
      TRUSTED_PROXIES: '10.0.0.0/8',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:s3cret@collector:4318',
    });
    edit(dir, 'k8s/base/deployment.yaml', (s) => s.replace(/ {12}- name: MFA_ENCRYPTION_KEY_FILE\n {14}value: .*\n/, ''));
    const { report } = await readiness(dir);
    assertFailed(report, 'auth.jwt-secret', /secrets as plain values: Deployment\/rampart-api api: JWT_SECRET/);
    assert.doesNotMatch(JSON.stringify(report), /xxxxxxxx|s3cret/, 'no secret value in the report');
    assertFailed(report, 'config.fail-startup', /k8s\.production-mode: Deployment\/rampart-api api: NODE_ENV is "development"/);
    assertFailed(report, 'net.forwarded-proto', /too wide: 10\.0\.0\.0\/8 \(any pod there could forge a client address\)/);
    assertFailed(report, 'auth.lockout', /k8s\.mfa: Deployment\/rampart-api api: MFA_ENCRYPTION_KEY unset/);
    assertFailed(
      report,
      'obs.tracing',
      /k8s\.tracing: Deployment\/rampart-api api: OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/\[redacted\]@collector:4318/,
    );
  });

  it('an HPA of one replica, a suspended retention CronJob and a detection-only WAF fail their items', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/overlays/production/hpa.yaml', (s) => s.replace('minReplicas: 3', 'minReplicas: 1'));
    edit(dir, 'k8s/base/cronjob-retention.yaml', (s) =>
      s.replace('  concurrencyPolicy: Forbid\n', '  concurrencyPolicy: Forbid\n  suspend: true\n'),
    );
    edit(dir, 'k8s/ingress-nginx/controller-configmap.yaml', (s) => s.replace('SecRuleEngine On', 'SecRuleEngine DetectionOnly'));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'perf.scaling',
      /HorizontalPodAutoscaler\/rampart-api: minReplicas 1 \(one pod is a single point of failure\)/,
    );
    assertFailed(report, 'db.retention', /CronJob\/rampart-retention \(retention\) is suspended/);
    assertFailed(report, 'future.waf', /SecRuleEngine is not On \(detection only\)/);
  });

  it('an alert deleted from the alerts dir, or missing from the PrometheusRule, fails the alert items', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'alerts/rampart.rules.yaml', (s) => s.replace(/^ {6}- alert: RampartDbPoolSaturated\n(?: {8}.*\n)+/m, ''));
    const { report, stderr } = await readiness(dir);
    assert.ok(report, stderr);
    assertFailed(report, 'obs.alerts', /alerts\.rules: .*missing: RampartDbPoolSaturated \(pool saturation\)/);
    assertFailed(report, 'db.pool-alerts', /missing: RampartDbPoolSaturated/);

    const other = copyDeployment(t);
    edit(other, 'k8s/base/prometheusrule.yaml', (s) => s.replace(/^ {8}- alert: RampartLatencyP95High\n(?: {10}.*\n)+/m, ''));
    const second = await readiness(other);
    assert.ok(second.report, second.stderr);
    assertFailed(second.report, 'obs.alerts', /k8s\.prometheusrule: alerts not deployed: RampartLatencyP95High$/);
  });

  it('a missing runbook, or one without its sections, fails its item', async (t) => {
    const dir = copyDeployment(t);
    rmSync(join(dir, 'runbooks/on-call-escalation.md'));
    edit(dir, 'runbooks/secret-rotation.md', (s) => s.replace('## Database credentials', '## Databases'));
    const { report } = await readiness(dir);
    assertFailed(report, 'runbooks.on-call-escalation', /on-call-escalation\.md: missing$/);
    assertFailed(report, 'runbooks.secret-rotation', /secret-rotation\.md: no "Database credentials" section$/);
    assertFailed(report, 'config.rotation-doc', /no "Database credentials" section/);
  });

  for (const runbook of ['incident-response', 'deploy-rollback', 'secret-rotation', 'backup-restore', 'on-call-escalation']) {
    it(`without runbooks/${runbook}.md its item fails`, async (t) => {
      const dir = copyDeployment(t);
      rmSync(join(dir, `runbooks/${runbook}.md`));
      const { report } = await readiness(dir);
      assertFailed(report, `runbooks.${runbook}`, new RegExp(`${runbook}\\.md: missing$`));
    });
  }

  it('JWT keys that do not come from the secret manager fail the secret-manager and JWT-secret items', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/base/externalsecret.yaml', (s) =>
      s.replace(/^ {4}- secretKey: jwt-keys\n {6}remoteRef:\n {8}key: \S+\n/m, ''),
    );
    const { report, stderr } = await readiness(dir);
    assert.ok(report, stderr);
    assertFailed(
      report,
      'config.secret-manager',
      /k8s\.external-secrets: .*the JWT keys \(jwt-keys \/ jwt-secret\) do not come from an ExternalSecret/,
    );
    assertFailed(report, 'auth.jwt-secret', /k8s\.external-secrets: .*the JWT keys/);
  });

  it('a pipeline without its audit, SBOM, gating scan, scheduled rebuild and release check fails the supply-chain and release items', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, '.ci/run', (s) => s.replace(/^node bin\/secops\.js audit .*$/m, 'true'));
    edit(dir, '.github/workflows/release.yml', (s) =>
      s
        .replace("exit-code: '1'", "exit-code: '0'")
        .replace(/uses: anchore\/sbom-action@\S+/, 'uses: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f')
        .replaceAll(/bin\/secops\.js release check/g, 'bin/secops.js release pin'),
    );
    edit(dir, '.ci/run', (s) => s.replace(/^node bin\/secops\.js sbom .*$/m, 'true'));
    edit(dir, '.github/workflows/rebuild.yml', (s) => s.replace(/ {2}schedule:\n {4}- cron: .*\n/, ''));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'supply.audit',
      /^pipeline\.audit: no workflow run on pull requests or pushes runs secops audit \(3 workflow\(s\) in /,
    );
    assertFailed(report, 'supply.deny', /^pipeline\.licences: secops audit does not run in CI$/);
    assertFailed(report, 'supply.sbom', /no workflow triggered by a tag generates an SBOM/);
    assertFailed(
      report,
      'supply.image-scan',
      /release\.yml job scan: "Trivy \(fixable HIGH and CRITICAL fail the release\)": the scan does not fail on findings \(exit-code is not 1\)$/,
    );
    assertFailed(report, 'supply.base-image-cves', /pipeline\.rebuild: no scheduled workflow \(on\.schedule\) scans the image/);
    assertFailed(report, 'release.tags-changelog', /no tag-triggered workflow runs `secops release check`/);
  });

  it('a base image without a digest in the Dockerfile fails config.image-digests', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'Dockerfile', (s) => s.replace(/^FROM (\S+)@sha256:[0-9a-f]{64}/m, 'FROM $1'));
    const { report } = await readiness(dir);
    assertFailed(
      report,
      'config.image-digests',
      /line \d+ \(FROM node:[^)]+\): base image is not pinned by @sha256:<64 hex digits>/,
    );
  });

  it('--ci writes JUnit and Markdown and exits 1 on a failed item; --baseline accepts it until its expiry', async (t) => {
    const dir = copyDeployment(t);
    edit(dir, 'k8s/ingress-nginx/controller-configmap.yaml', (s) => s.replace('SecRuleEngine On', 'SecRuleEngine DetectionOnly'));
    const junit = join(dir, 'out.xml');
    const summary = join(dir, 'out.md');
    const ci = await readiness(dir, ['--ci', '--junit', junit, '--summary', summary]);
    assert.equal(ci.code, 1);
    const xml = readFileSync(junit, 'utf8');
    assert.equal(xml.match(/<testcase /g)?.length, 61);
    assert.match(
      xml,
      /name="future\.waf: DDoS mitigation \/ WAF integration"><failure message="k8s\.waf: [^"]*SecRuleEngine is not On/,
    );
    assert.match(xml, /name="perf\.load-baseline: [^"]*"><skipped message="a load test must not run against production/);
    assert.match(
      readFileSync(summary, 'utf8'),
      /## Failed\n\n(?:- .*\n)*- `future\.waf` DDoS mitigation \/ WAF integration: k8s\.waf: /,
    );

    const baseline = join(dir, 'baseline.yaml');
    writeFileSync(baseline, '- id: future.waf\n  reason: blocking mode after the tuning week\n  expires: 2099-01-01\n');
    const accepted = await readiness(dir, ['--baseline', baseline]);
    const waf = item(accepted.report, 'future.waf');
    assert.equal(waf.status, 'manual');
    assert.match(
      waf.evidence,
      /^accepted by the baseline until 2099-01-01: blocking mode after the tuning week \(seen: k8s\.waf: .*detection only/,
    );

    writeFileSync(baseline, '- id: future.waf\n  reason: blocking mode after the tuning week\n  expires: 2020-01-01\n');
    const expired = await readiness(dir, ['--baseline', baseline]);
    assert.equal(expired.code, EXIT.failed);
    assert.equal(expired.report, undefined, 'nothing probed');
    assert.match(
      expired.stderr,
      /future\.waf: expired on 2020-01-01 \(blocking mode after the tuning week\): fix the item or decide again/,
    );
  });

  it('a missing kubectl is an environment error (78); a missing overlay a usage error (2)', async (t) => {
    const dir = copyDeployment(t);
    await assert.rejects(renderOverlay(join(dir, 'k8s/overlays/production'), 5000, join(dir, 'no-kubectl')), (err: unknown) => {
      assert.ok(err instanceof CliError);
      assert.equal(err.exitCode, EXIT.config);
      assert.match(err.message, /--kustomize needs kubectl on PATH/);
      return true;
    });
    const captured = captureIo({});
    const code = await main(['readiness', '--url', url, '--kustomize', join(dir, 'nowhere')], captured.io);
    assert.equal(code, EXIT.usage);
    assert.match(captured.stderr(), /--kustomize: no such directory .*nowhere/);
  });
});

describe('secops readiness: alert rules through promtool', () => {
  /** An executable standing in for promtool: prints `output` and exits with `code`. */
  function fakePromtool(t: TestContext, code: number, output: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-promtool-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'promtool');
    writeFileSync(file, `#!/bin/sh\necho "$*" > "${dir}/args"\necho '${output}' >&2\nexit ${code}\n`, { mode: 0o755 });
    return file;
  }

  it('passes when promtool accepts the rule files, fails with its message when it refuses them, says so when it is missing', async (t) => {
    const alerts = join(ROOT, 'alerts');
    const ok = await alertChecks(alerts, 5000, fakePromtool(t, 0, 'SUCCESS'));
    assert.equal(ok[0]?.status, 'passed', ok[0]?.evidence);
    assert.match(ok[0]?.evidence ?? '', /promtool check rules: SUCCESS$/);
    const refusing = fakePromtool(t, 1, 'FAILED: group "rampart-slo.alerts", rule 1: could not parse expression');
    const bad = await alertChecks(alerts, 5000, refusing);
    assert.equal(bad[0]?.status, 'failed');
    assert.match(
      bad[0]?.evidence ?? '',
      /promtool check rules: FAILED: group "rampart-slo\.alerts", rule 1: could not parse expression$/,
    );
    assert.equal(readFileSync(join(refusing, '..', 'args'), 'utf8').trim(), `check rules ${join(alerts, 'rampart.rules.yaml')}`);
    const missing = await alertChecks(alerts, 5000, join(tmpdir(), 'no-such-promtool'));
    assert.match(missing[0]?.evidence ?? '', /promtool not on PATH: syntax not checked$/);
  });
});
