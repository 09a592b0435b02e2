/**
 * dashboards/*.json and k8s/base/grafana-dashboards-configmap.yaml are what scripts/dashboards.ts
 * builds (Grafana Foundation SDK), and every dashboard keeps the conventions the sidecar and on-call
 * rely on. The queries themselves are evaluated against a live Prometheus in prometheus.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { buildDashboards, CONFIGMAP_PATH, panelQueries } from '../../scripts/dashboards.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('dashboards as code', () => {
  it('the committed JSON and ConfigMap are what the generator writes (check mode)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/dashboards.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('check mode fails on an edited dashboard, a missing ConfigMap or a stray dashboard file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-dashboards-'));
    try {
      const run = (...args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/dashboards.ts'), '--root', dir, ...args], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
        });
      assert.equal(run().status, 1, 'nothing written yet');
      assert.equal(run('--write').status, 0);
      assert.equal(run().status, 0, 'fresh');
      const overview = join(dir, 'dashboards/overview.json');
      writeFileSync(overview, readFileSync(overview, 'utf8').replace('Overview', 'Overveiw'));
      const edited = run();
      assert.equal(edited.status, 1);
      assert.match(edited.stderr, /overview\.json/);
      assert.equal(run('--write').status, 0);
      writeFileSync(join(dir, 'dashboards/hand-made.json'), '{}\n');
      const stray = run();
      assert.equal(stray.status, 1);
      assert.match(stray.stderr, /hand-made\.json/);
      rmSync(join(dir, 'dashboards/hand-made.json'));
      rmSync(join(dir, 'k8s/base/grafana-dashboards-configmap.yaml'));
      assert.match(run().stderr, /grafana-dashboards-configmap\.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the seven dashboards, with unique uids, the datasource variable and job="rampart" on every service query', () => {
    const built = buildDashboards();
    assert.deepEqual(built.map((d) => d.file).sort(), [
      'auth.json',
      'backups.json',
      'database.json',
      'mail.json',
      'model.json',
      'overview.json',
      'rate-limits.json',
    ]);
    const uids = built.map((d) => d.dashboard.uid);
    assert.equal(new Set(uids).size, uids.length);
    for (const { file, dashboard } of built) {
      const vars = (dashboard.templating as { list: { name: string; type: string; query: string }[] }).list;
      assert.ok(
        vars.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'),
        `${file}: $datasource`,
      );
      for (const panel of (
        dashboard.panels as {
          type: string;
          title: string;
          datasource?: { uid: string };
          fieldConfig?: { defaults: { unit?: string } };
        }[]
      ).filter((p) => p.type !== 'row')) {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
        assert.equal(panel.datasource?.uid, '${datasource}', `${file} / ${panel.title}: data source`);
        assert.ok(panel.fieldConfig?.defaults.unit, `${file} / ${panel.title}: a unit`);
      }
      for (const q of panelQueries(dashboard)) {
        if (!/rampart_(backup|pitr)_/.test(q.expr)) assert.match(q.expr, /job="rampart"/, `${file} / ${q.panel}`);
      }
    }
  });

  it('the overview shows the SLOs and the 30-day error budget', () => {
    const overview = buildDashboards().find((d) => d.file === 'overview.json')?.dashboard;
    assert.ok(overview);
    const exprs = panelQueries(overview).map((q) => `${q.panel}: ${q.expr}`);
    assert.ok(exprs.some((e) => e.startsWith('Availability SLI') && /status!~"5\.\."\}\[30d\]/.test(e)));
    assert.ok(exprs.some((e) => e.startsWith('Error budget remaining') && e.includes('[30d]') && e.includes('/ 0.001')));
    assert.ok(exprs.some((e) => /http_request_duration_seconds_bucket\{job="rampart",le="0.3"\}\[30d\]/.test(e)));
  });

  it('docs/slo.md says which objective every alert protects', () => {
    const rules = parse(readFileSync(join(ROOT, 'alerts/rampart.rules.yaml'), 'utf8')) as {
      groups: { rules: { alert?: string }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const slo = readFileSync(join(ROOT, 'docs/slo.md'), 'utf8');
    const table = new Set([...slo.matchAll(/^\| \[(Rampart\w+)\]\(\.\.\/runbooks\/\1\.md\) \|/gm)].map((m) => m[1]));
    assert.deepEqual([...table].sort(), [...alerts].sort());
  });

  it('the ConfigMap carries the sidecar label and every dashboard', () => {
    const cm = parse(readFileSync(CONFIGMAP_PATH, 'utf8'));
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.labels.grafana_dashboard, '1');
    assert.deepEqual(
      Object.keys(cm.data).sort(),
      buildDashboards()
        .map((d) => `rampart-${d.file}`)
        .sort(),
    );
    for (const [key, json] of Object.entries(cm.data as Record<string, string>)) {
      assert.equal(json, readFileSync(join(ROOT, 'dashboards', key.replace(/^rampart-/, '')), 'utf8'));
    }
    const kustomization = parse(readFileSync(join(ROOT, 'k8s/base/kustomization.yaml'), 'utf8'));
    assert.ok(kustomization.resources.includes('grafana-dashboards-configmap.yaml'));
  });
});
