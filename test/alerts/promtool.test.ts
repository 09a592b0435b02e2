import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNBOOK_BASE = 'https://github.com/rampart/rampart/blob/main/runbooks/';
const SECTIONS = ['Meaning', 'Impact', 'Diagnosis', 'Mitigation', 'Escalation'];

const yamlFiles = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => join(dir, f));
const ruleFiles = yamlFiles('alerts');
const testFiles = yamlFiles('alerts/tests');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = ruleFiles.flatMap((file) =>
  (parse(readFileSync(join(ROOT, file), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');

/** Runs promtool, or skips the test where it is not installed — except in CI, where that is a failure. */
function promtool(t: TestContext, args: string[]) {
  const result = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    if (process.env.CI) assert.fail('promtool is not installed, and CI is set: the alert rules must be checked in CI');
    t.skip('promtool is not installed');
    return undefined;
  }
  return result;
}

describe('alert rules', () => {
  it('there are rule files and unit-test files', () => {
    assert.ok(ruleFiles.length > 0, 'no alerts/*.yaml');
    assert.ok(testFiles.length > 0, 'no alerts/tests/*.yaml');
    assert.ok(alerts.length > 0, 'no alerting rules');
  });

  it('`promtool check rules` accepts every rule file', (t) => {
    const result = promtool(t, ['check', 'rules', ...ruleFiles]);
    if (result) assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });

  it('`promtool test rules` passes every unit test', (t) => {
    const result = promtool(t, ['test', 'rules', ...testFiles]);
    if (result) assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });

  it('every alert has a unit test where it fires and one where it stays silent', () => {
    const fires = new Set<string>();
    const silent = new Set<string>();
    for (const file of testFiles) {
      const doc = parse(readFileSync(join(ROOT, file), 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
      };
      for (const test of doc.tests) {
        for (const case_ of test.alert_rule_test ?? []) {
          ((case_.exp_alerts ?? []).length > 0 ? fires : silent).add(case_.alertname);
        }
      }
    }
    for (const { alert } of alerts) {
      assert.ok(fires.has(alert), `${alert}: no promtool test where it fires`);
      assert.ok(silent.has(alert), `${alert}: no promtool test where it stays silent`);
    }
  });

  for (const rule of alerts) {
    it(`${rule.alert} has severity, summary, description and a runbook with the five sections`, () => {
      assert.match(rule.labels?.severity ?? '', /^(page|ticket|info)$/, 'severity must be page, ticket or info');
      for (const key of ['summary', 'description', 'runbook_url']) {
        assert.ok(rule.annotations?.[key]?.trim(), `annotation ${key} is missing`);
      }
      assert.equal(rule.annotations?.runbook_url, `${RUNBOOK_BASE}${rule.alert}.md`);
      const runbook = join(ROOT, 'runbooks', `${rule.alert}.md`);
      assert.ok(existsSync(runbook), `runbooks/${rule.alert}.md does not exist`);
      const headings = [...readFileSync(runbook, 'utf8').matchAll(/^##\s+(.+?)\s*$/gm)].map((m) => m[1]);
      for (const section of SECTIONS) assert.ok(headings.includes(section), `runbooks/${rule.alert}.md lacks "## ${section}"`);
    });
  }

  it('alert names are unique', () => {
    const names = alerts.map((a) => a.alert);
    assert.deepEqual(names, [...new Set(names)]);
  });
});
