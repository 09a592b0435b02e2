import type { ItemStatus } from './checklist.js';

/** An automated check's outcome: `manual` when it ran but could not decide (the evidence says why). */
export interface CheckResult {
  /** Stable id (`headers.hsts`, `db.role`, `k8s.waf`, …), listed by its module (registry.ts). */
  id: string;
  title: string;
  status: ItemStatus;
  /** What was seen: proof for `passed`, the deviation for `failed`, what is missing for `manual`. */
  evidence: string;
}

export const pass = (id: string, title: string, evidence: string): CheckResult => ({ id, title, status: 'passed', evidence });
export const fail = (id: string, title: string, evidence: string): CheckResult => ({ id, title, status: 'failed', evidence });
export const undecided = (id: string, title: string, evidence: string): CheckResult => ({
  id,
  title,
  status: 'manual',
  evidence,
});
/** passed when `ok`, else failed, with one evidence text either way. */
export const verdict = (ok: boolean, id: string, title: string, evidence: string): CheckResult => ({
  id,
  title,
  status: ok ? 'passed' : 'failed',
  evidence,
});
