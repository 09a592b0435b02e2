import { type EolTable, evaluateRuntimes, nodeLineOf, type RuntimeTarget } from '../supply-chain/runtime-eol.js';
import type { CheckResult } from './http.js';

export const RUNTIME_TITLE = 'Runtime and base image supported: Node line (live /version) and Debian release (Dockerfile) not near end of life';

/**
 * The runtime.currency item: the Node the live service reports on /version, and the Debian release
 * of the image it is built from (its Dockerfile, when given), against the end-of-life table — failed
 * when either is past its end of life or within the warning, or when /version does not say.
 */
export function runtimeCurrencyCheck(input: {
  nodeVersion: string | undefined;
  seen: string;
  table: EolTable;
  imageTargets: RuntimeTarget[];
  today: string;
  warningDays: number;
}): CheckResult {
  const line = input.nodeVersion ? nodeLineOf(input.nodeVersion) : undefined;
  if (line === undefined)
    return { id: 'runtime.currency', title: RUNTIME_TITLE, status: 'failed', evidence: `${input.seen}: no Node version to check` };
  const targets: RuntimeTarget[] = [
    { kind: 'node', id: String(line), source: `live /version ${input.nodeVersion}` },
    ...input.imageTargets.filter((t) => t.kind === 'debian'),
  ];
  // One finding per distinct runtime is enough evidence: every stage of one image shares its base.
  const distinct = targets.filter((t, i) => targets.findIndex((o) => o.kind === t.kind && o.id === t.id) === i);
  const findings = evaluateRuntimes(input.table, distinct, input.today, input.warningDays);
  const ok = findings.every((f) => f.status === 'supported');
  return {
    id: 'runtime.currency',
    title: RUNTIME_TITLE,
    status: ok ? 'passed' : 'failed',
    evidence: findings.map((f) => f.message).join('; '),
  };
}
