import type { BaselineEntry } from './baseline.js';
import type { ChecklistItem, ItemStatus } from './checklist.js';
import { tierOf } from './registry.js';
import type { CheckResult } from './result.js';

/** One seed item as reported: its status, the evidence, and the checks behind it. */
export interface ReadinessItem {
  id: string;
  section: string;
  title: string;
  status: ItemStatus;
  /** Proof for `passed`, what was seen for `failed`, the reason or what would prove it for `manual`. */
  evidence: string;
  /** The checks that ran for it (alternatives and refinements). */
  checks: CheckResult[];
  /** Set when a baseline entry turned a failure into `manual`. */
  accepted?: { reason: string; expires: string; failed: string };
}

const line = (r: CheckResult) => `${r.id}: ${r.evidence}`;

/**
 * An item's status from the results of the checks that ran (a check that did not run has no result):
 * failed when any of its checks failed; passed when one alternative passed entirely; manual otherwise,
 * saying what would prove it — the flags of the tiers that did not run, or why a check that ran could
 * not decide. A baseline entry turns a failed item into manual until it expires.
 */
export function evaluateItem(
  item: ChecklistItem,
  results: ReadonlyMap<string, CheckResult>,
  baseline?: BaselineEntry,
): ReadinessItem {
  const base = { id: item.id, section: item.section, title: item.text };
  if (item.proof.kind === 'manual') return { ...base, status: 'manual', evidence: item.proof.reason, checks: [] };
  const { any, also } = item.proof;
  const ids = [...new Set([...any.flat(), ...also])];
  const ran = ids.map((id) => results.get(id)).filter((r): r is CheckResult => r !== undefined);
  const failed = ran.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    const evidence = failed.map(line).join(' | ');
    if (baseline)
      return {
        ...base,
        status: 'manual',
        evidence: `accepted by the baseline until ${baseline.expires}: ${baseline.reason} (seen: ${evidence})`,
        checks: ran,
        accepted: { reason: baseline.reason, expires: baseline.expires, failed: evidence },
      };
    return { ...base, status: 'failed', evidence, checks: ran };
  }
  const proven = any.find((alternative) => alternative.every((id) => results.get(id)?.status === 'passed'));
  if (proven) {
    const extra = also.filter((id) => !proven.includes(id) && results.get(id)?.status === 'passed');
    return {
      ...base,
      status: 'passed',
      evidence: [...proven, ...extra].map((id) => line(results.get(id) as CheckResult)).join(' | '),
      checks: ran,
    };
  }
  // Not proven: the alternative closest to it (fewest checks missing) says what is missing.
  const missing = any
    .map((alternative) => alternative.filter((id) => results.get(id)?.status !== 'passed'))
    .sort((a, b) => a.length - b.length)[0] as string[];
  const needs = new Set<string>();
  const undecided: string[] = [];
  for (const id of missing) {
    const r = results.get(id);
    if (r) undecided.push(line(r));
    else needs.add(tierOf(id)?.needs ?? `the check ${id}`);
  }
  const evidence = [...undecided, ...[...needs].map((n) => `needs ${n}`)].join(' | ');
  return { ...base, status: 'manual', evidence, checks: ran };
}

export function evaluateChecklist(
  items: readonly ChecklistItem[],
  results: ReadonlyMap<string, CheckResult>,
  baseline: ReadonlyMap<string, BaselineEntry> = new Map(),
): ReadinessItem[] {
  return items.map((item) => evaluateItem(item, results, baseline.get(item.id)));
}
