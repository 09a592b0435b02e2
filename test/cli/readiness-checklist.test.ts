/**
 * `secops readiness`'s one table (cli/src/lib/readiness/checklist.ts) against docs/checklist.md, the
 * check modules and docs/readiness.md; how an item's status follows from its checks; the baseline file;
 * the CI mode's JUnit XML and Markdown summary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckFailedError, UsageError } from '../../cli/src/lib/errors.js';
import { loadBaseline } from '../../cli/src/lib/readiness/baseline.js';
import { CHECKLIST, type ChecklistItem, referencedChecks } from '../../cli/src/lib/readiness/checklist.js';
import { junitXml, markdownSummary } from '../../cli/src/lib/readiness/ci-report.js';
import { evaluateItem } from '../../cli/src/lib/readiness/evaluate.js';
import { producedChecks, TIERS } from '../../cli/src/lib/readiness/registry.js';
import type { CheckResult } from '../../cli/src/lib/readiness/result.js';
import { CHECKLIST_DOC, compareWithChecklist, parseChecklist, runCheck } from '../../scripts/readiness-table.js';

const seedText = readFileSync(CHECKLIST_DOC, 'utf8');

describe('readiness: the one table', () => {
  it('has the 61 items of docs/checklist.md, in its order, with its exact text and sections', () => {
    const seed = parseChecklist(seedText);
    assert.equal(seed.length, 61);
    assert.equal(CHECKLIST.length, 61);
    assert.deepEqual(compareWithChecklist(seed, CHECKLIST), []);
    assert.deepEqual(
      CHECKLIST.map((i) => [i.section, i.text]),
      seed.map((s) => [s.section, s.text]),
    );
  });

  it('docs/checklist.md is the seed checklist verbatim (61 open items)', () => {
    assert.equal(seedText.match(/^- \[ \] /gm)?.length, 61);
    assert.match(seedText, /^# Production Readiness Checklist\n/);
  });

  it('the comparison names a missing, an extra, a renamed and a moved item', () => {
    const seed = parseChecklist(seedText);
    const missing = compareWithChecklist(
      seed.filter((s) => s.text !== 'On-call escalation matrix'),
      CHECKLIST,
    );
    assert.ok(
      missing.includes(
        'not in docs/checklist.md: runbooks.on-call-escalation "On-call escalation matrix" (10. Operational Runbooks)',
      ),
      missing.join('\n'),
    );
    const extra = compareWithChecklist([...seed, { section: '10. Operational Runbooks', text: 'Chaos drills' }], CHECKLIST);
    assert.ok(extra.includes('missing from the table: "Chaos drills" (10. Operational Runbooks)'), extra.join('\n'));
    const renamed = compareWithChecklist(
      seed.map((s) => (s.text === 'Secret rotation steps' ? { ...s, text: 'Secret rotation step' } : s)),
      CHECKLIST,
    );
    assert.deepEqual(renamed, [
      'missing from the table: "Secret rotation step" (10. Operational Runbooks)',
      'not in docs/checklist.md: runbooks.secret-rotation "Secret rotation steps" (10. Operational Runbooks)',
    ]);
    const moved = [...seed];
    [moved[0], moved[1]] = [moved[1] as (typeof seed)[number], moved[0] as (typeof seed)[number]];
    assert.match(
      compareWithChecklist(moved, CHECKLIST)[0] ?? '',
      /^order: item 1 is "\(Optional later\) Migrate to asymmetric JWT/,
    );
  });

  it('item ids are unique and namespaced; every item is checks with at least one alternative, or manual with a reason', () => {
    assert.equal(new Set(CHECKLIST.map((i) => i.id)).size, 61);
    for (const item of CHECKLIST) {
      assert.match(item.id, /^[a-z]+\.[a-z0-9-]+$/, item.id);
      if (item.proof.kind === 'manual') assert.ok(item.proof.reason.length > 40, item.id);
      else assert.ok(item.proof.any.length > 0 && item.proof.any.every((a) => a.length > 0), item.id);
    }
  });

  it('every check the table names is produced by a check module, and every check produced is in the table', () => {
    const referenced = referencedChecks();
    const produced = producedChecks();
    assert.deepEqual(
      [...referenced].filter((id) => !produced.has(id)),
      [],
      'named by the table, produced by no module',
    );
    assert.deepEqual(
      [...produced].filter((id) => !referenced.has(id)),
      [],
      'produced, but in no item',
    );
    const all = TIERS.flatMap((t) => t.ids);
    assert.equal(new Set(all).size, all.length, 'a check id in two tiers');
  });

  it('docs/readiness.md carries the table as scripts/readiness-table.ts generates it', () => {
    assert.deepEqual(runCheck(), []);
  });
});

const r = (id: string, status: CheckResult['status'], evidence = `${id} seen`): CheckResult => ({
  id,
  title: id,
  status,
  evidence,
});
const results = (...list: CheckResult[]) => new Map(list.map((x) => [x.id, x]));
const ITEM: ChecklistItem = {
  id: 'app.content-type',
  section: '7. Application Hardening',
  text: 'Enforce Content-Type=application/json for JSON routes',
  proof: { kind: 'checks', any: [['api.content-type'], ['probe.content-type', 'k8s.waf']], also: ['k8s.tls-hops'] },
};

describe('readiness: an item’s status from its checks', () => {
  it('passes on one alternative passed entirely, with that alternative’s evidence', () => {
    const item = evaluateItem(ITEM, results(r('api.content-type', 'passed', '415')));
    assert.equal(item.status, 'passed');
    assert.equal(item.evidence, 'api.content-type: 415');
    const other = evaluateItem(
      ITEM,
      results(r('probe.content-type', 'passed'), r('k8s.waf', 'passed'), r('k8s.tls-hops', 'passed')),
    );
    assert.equal(other.status, 'passed');
    assert.equal(
      other.evidence,
      'probe.content-type: probe.content-type seen | k8s.waf: k8s.waf seen | k8s.tls-hops: k8s.tls-hops seen',
    );
  });

  it('fails when any of its checks ran and failed — a refinement too — even if an alternative passed', () => {
    const item = evaluateItem(
      ITEM,
      results(r('api.content-type', 'passed'), r('k8s.tls-hops', 'failed', 'ALLOW_PLAINTEXT=redis')),
    );
    assert.equal(item.status, 'failed');
    assert.equal(item.evidence, 'k8s.tls-hops: ALLOW_PLAINTEXT=redis');
    assert.equal(
      evaluateItem(ITEM, results(r('probe.content-type', 'failed'), r('api.content-type', 'passed'))).status,
      'failed',
    );
  });

  it('is manual, naming the flag of the tier that did not run, when no alternative ran entirely', () => {
    const none = evaluateItem(ITEM, results());
    assert.equal(none.status, 'manual');
    assert.match(none.evidence, /^needs --url/);
    const half = evaluateItem(ITEM, results(r('k8s.waf', 'passed'), r('api.content-type', 'manual', 'http:// URL')));
    assert.equal(half.status, 'manual');
    assert.equal(half.evidence, 'api.content-type: http:// URL');
    const probeOnly = evaluateItem(
      { ...ITEM, proof: { kind: 'checks', any: [['probe.lockout']], also: [] } },
      results(r('api.content-type', 'passed')),
    );
    assert.match(probeOnly.evidence, /^needs --probe-account/);
  });

  it('a manual item is manual with its reason, whatever ran', () => {
    const item = CHECKLIST.find((i) => i.id === 'future.failover') as ChecklistItem;
    assert.equal(evaluateItem(item, results()).status, 'manual');
    assert.match(evaluateItem(item, results()).evidence, /design decision/);
  });

  it('a baseline entry turns a failed item into manual with its reason, expiry and what was seen', () => {
    const item = evaluateItem(ITEM, results(r('api.content-type', 'failed', '200')), {
      id: ITEM.id,
      reason: 'legacy clients',
      expires: '2027-01-31',
    });
    assert.equal(item.status, 'manual');
    assert.equal(item.evidence, 'accepted by the baseline until 2027-01-31: legacy clients (seen: api.content-type: 200)');
    assert.deepEqual(item.accepted, { reason: 'legacy clients', expires: '2027-01-31', failed: 'api.content-type: 200' });
  });
});

describe('readiness: the baseline file', () => {
  const ids = new Set(CHECKLIST.map((i) => i.id));
  const file = (t: { after(fn: () => void): void }, name: string, text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-baseline-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads YAML and JSON entries that are current (the expiry day included)', (t) => {
    const yaml = file(t, 'b.yaml', '- id: obs.tracing\n  reason: collector not there yet\n  expires: 2027-01-31\n');
    assert.deepEqual(
      [...loadBaseline(yaml, ids, '2027-01-31').values()],
      [{ id: 'obs.tracing', reason: 'collector not there yet', expires: '2027-01-31' }],
    );
    const json = file(t, 'b.json', JSON.stringify({ ignore: [{ id: 'future.waf', reason: 'CDN WAF', expires: '2027-03-01' }] }));
    assert.equal(loadBaseline(json, ids, '2026-12-06').get('future.waf')?.reason, 'CDN WAF');
  });

  it('fails the run on an expired entry, an unknown item and a duplicate, naming each', (t) => {
    const path = file(
      t,
      'b.yaml',
      [
        '- {id: obs.tracing, reason: later, expires: 2026-12-05}',
        '- {id: obs.tracingg, reason: typo, expires: 2027-01-01}',
        '- {id: future.waf, reason: a, expires: 2027-01-01}',
        '- {id: future.waf, reason: b, expires: 2027-01-01}',
      ].join('\n'),
    );
    assert.throws(
      () => loadBaseline(path, ids, '2026-12-06'),
      (err: unknown) =>
        err instanceof CheckFailedError &&
        err.message.includes('obs.tracing: expired on 2026-12-05 (later): fix the item or decide again') &&
        err.message.includes('obs.tracingg: no such checklist item') &&
        err.message.includes('future.waf: listed twice'),
    );
  });

  it('refuses a malformed file as a usage error', (t) => {
    assert.throws(
      () => loadBaseline(file(t, 'b.yaml', '- id: obs.tracing\n  expires: 2027-13-01\n'), ids, '2026-12-06'),
      (err: unknown) => err instanceof UsageError && /obs\.tracing: needs reason, expires \(YYYY-MM-DD\)/.test(err.message),
    );
    assert.throws(() => loadBaseline(file(t, 'b.yaml', '{ not: [yaml'), ids, '2026-12-06'), UsageError);
    assert.throws(() => loadBaseline('/nonexistent/baseline.yaml', ids, '2026-12-06'), /cannot read .*ENOENT/);
  });
});

describe('readiness: CI files', () => {
  const items = [
    { id: 'a.one', section: '1. S', title: 'One & <two>', status: 'passed' as const, evidence: 'seen "ok"', checks: [] },
    { id: 'a.two', section: '1. S', title: 'Two', status: 'failed' as const, evidence: 'X-Frame-Options absent | b', checks: [] },
    { id: 'a.three', section: '2. T', title: 'Three', status: 'manual' as const, evidence: 'needs --kustomize', checks: [] },
  ];
  const header = {
    url: 'https://api.example',
    checkedAt: '2026-12-06T00:00:00.000Z',
    tiers: ['read-only'],
    summary: { passed: 1, failed: 1, manual: 1 },
  };

  it('JUnit: one test case per item, failures with the evidence, manual items skipped with the reason, escaped', () => {
    const x = junitXml(header, items);
    assert.match(x, /<testsuites name="secops readiness" tests="3" failures="1" skipped="1">/);
    assert.equal(x.match(/<testcase /g)?.length, 3);
    assert.match(x, /name="a\.one: One &amp; &lt;two&gt;"><system-out>seen &quot;ok&quot;<\/system-out>/);
    assert.match(x, /name="a\.two: Two"><failure message="X-Frame-Options absent \| b" type="readiness">/);
    assert.match(x, /name="a\.three: Three"><skipped message="needs --kustomize"\/>/);
  });

  it('Markdown: the verdict, the failures first, then every item by section', () => {
    const m = markdownSummary(header, items);
    assert.match(m, /\*\*1 verified, 1 failed, 1 manual\*\* of 3 — NOT READY/);
    assert.match(m, /## Failed\n\n- `a\.two` Two: X-Frame-Options absent \\\| b/);
    assert.match(m, /\| \[manual\] \| Three \(`a\.three`\) \| needs --kustomize \|/);
  });
});
