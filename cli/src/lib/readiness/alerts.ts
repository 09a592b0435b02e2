import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runFile } from '../supply-chain/exec.js';
import { type CheckResult, fail, pass } from './result.js';

/**
 * The alerts tier (`--alerts-dir`, default ./alerts when present): the Prometheus rule files directly
 * in the directory (alerts/tests/ holds promtool unit tests, not rules). Every required alert exists
 * with a severity and a runbook, and `promtool check rules` accepts the files when promtool is on PATH.
 */
export const ALERT_CHECK_IDS = ['alerts.rules'] as const;

/**
 * The alerts a deployment must have: the checklist's four (5xx %, latency p95, auth failures spike, pool
 * saturation) and the rest the repository's runbooks answer (runbooks/<alert>.md).
 */
export const REQUIRED_ALERTS: Readonly<Record<string, string>> = {
  RampartErrorBudgetBurnFast: '5xx %',
  RampartErrorBudgetBurnSlow: '5xx %',
  RampartLatencyP95High: 'latency p95',
  RampartAuthFailureRatioHigh: 'auth failures',
  RampartAuthFailureSpike: 'auth failures spike',
  RampartLoginLockoutsSpike: 'lockouts',
  RampartMfaFailuresSpike: 'second-factor failures',
  RampartModelTokensSurge: 'model tokens',
  RampartModelBudgetRejections: 'model budgets',
  RampartRateLimitDropsSpike: 'rate-limit drops',
  RampartDbPoolSaturated: 'pool saturation',
  RampartDbPoolWaiting: 'pool saturation',
  RampartExternalModelSlowFirstToken: 'model latency',
  RampartExternalModelErrors: 'model errors',
  RampartMailOutboxStuck: 'mail outbox',
  RampartMailSendFailing: 'mail sending',
  RampartMailDeadLetters: 'mail dead letters',
  RampartDown: 'availability',
  RampartPodNotReady: 'availability',
  RampartReadinessFlapping: 'availability',
  RampartProcessFaults: 'crash hook',
  RampartJwtKeyringReloadFailing: 'JWT keyring',
  RampartBackupDrillStale: 'backups',
  RampartBackupDrillFailing: 'backups',
  RampartBackupSequenceDecreased: 'backups',
  RampartWalArchivingStalled: 'PITR',
  RampartPitrWindowShort: 'PITR',
  RampartPitrDrillFailing: 'PITR',
};

export interface AlertRule {
  alert: string;
  expr: string;
  file: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The rule files directly under `dir` (*.yaml, *.yml), in name order. */
export function ruleFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name))
    .filter((p) => /\.ya?ml$/.test(p) && statSync(p).isFile());
}

/** Every alerting rule of the rule files; a file that does not parse throws with its name. */
export function readAlertRules(dir: string): AlertRule[] {
  const rules: AlertRule[] = [];
  for (const file of ruleFiles(dir)) {
    let doc: { groups?: { rules?: Record<string, unknown>[] }[] };
    try {
      doc = (parse(readFileSync(file, 'utf8')) ?? {}) as typeof doc;
    } catch (err) {
      throw new Error(`${file}: not YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    for (const group of doc.groups ?? [])
      for (const rule of group.rules ?? [])
        if (typeof rule.alert === 'string')
          rules.push({
            alert: rule.alert,
            expr: String(rule.expr ?? '').trim(),
            file,
            labels: (rule.labels ?? {}) as Record<string, string>,
            annotations: (rule.annotations ?? {}) as Record<string, string>,
          });
  }
  return rules;
}

export async function alertChecks(dir: string, timeoutMs: number, promtool = 'promtool'): Promise<CheckResult[]> {
  const id = 'alerts.rules';
  const title = `Alert rules: ${Object.keys(REQUIRED_ALERTS).length} required alerts (5xx %, latency p95, auth failures spike, pool saturation, …) with severity and runbook; promtool-valid`;
  let rules: AlertRule[];
  try {
    rules = readAlertRules(dir);
  } catch (err) {
    return [fail(id, title, (err as Error).message)];
  }
  const files = ruleFiles(dir);
  if (files.length === 0) return [fail(id, title, `${dir}: no rule file (*.yaml)`)];
  const names = new Set(rules.map((r) => r.alert));
  const missing = Object.entries(REQUIRED_ALERTS).filter(([name]) => !names.has(name));
  const incomplete = rules.filter((r) => !r.labels.severity || !r.annotations.runbook_url).map((r) => r.alert);
  const problems = [
    missing.length > 0 && `missing: ${missing.map(([name, concern]) => `${name} (${concern})`).join(', ')}`,
    incomplete.length > 0 && `without severity or runbook_url: ${incomplete.join(', ')}`,
  ].filter((p): p is string => typeof p === 'string');
  const checked = await runFile(promtool, ['check', 'rules', ...files], { timeoutMs });
  let promtoolSeen: string;
  if (checked.spawnError) promtoolSeen = 'promtool not on PATH: syntax not checked';
  else if (checked.timedOut) problems.push(`promtool check rules did not finish within ${timeoutMs} ms`);
  else if (checked.code !== 0)
    problems.push(`promtool check rules: ${(checked.stderr || checked.stdout).trim().split('\n').slice(-3).join(' ')}`);
  promtoolSeen ??= 'promtool check rules: SUCCESS';
  const seen = `${dir}: ${rules.length} alerts in ${files.length} file(s)`;
  return [
    problems.length === 0
      ? pass(
          id,
          title,
          `${seen}, all ${Object.keys(REQUIRED_ALERTS).length} required present with severity and runbook; ${promtoolSeen}`,
        )
      : fail(id, title, `${seen}: ${problems.join('; ')}`),
  ];
}
