import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CheckFailedError, UsageError } from '../errors.js';
import { isExpired, parseIgnoreFile } from '../supply-chain/ignores.js';

/**
 * `--baseline FILE`: items a team accepts as not done yet, each with why and until when (YAML or JSON:
 * `[{id, reason, expires: YYYY-MM-DD}]`, or `{ignore: [...]}` like the audit ignore file). An accepted
 * item that fails is reported `[manual]` with the reason until its expiry (inclusive). An entry past
 * its expiry, or naming no seed item, fails the run: someone must decide again.
 */
export interface BaselineEntry {
  id: string;
  reason: string;
  expires: string;
}

export function loadBaseline(file: string, knownIds: ReadonlySet<string>, today: string): Map<string, BaselineEntry> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--baseline: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new UsageError(`--baseline: ${file} is neither YAML nor JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const { entries, problems } = parseIgnoreFile(value);
  if (problems.length > 0) throw new UsageError(`--baseline ${file}: ${problems.join('; ')}`);
  const refused: string[] = [];
  const baseline = new Map<string, BaselineEntry>();
  for (const e of entries) {
    if (!knownIds.has(e.id)) refused.push(`${e.id}: no such checklist item (the ids are in docs/readiness.md)`);
    else if (isExpired(e, today)) refused.push(`${e.id}: expired on ${e.expires} (${e.reason}): fix the item or decide again`);
    else if (baseline.has(e.id)) refused.push(`${e.id}: listed twice`);
    else baseline.set(e.id, { id: e.id, reason: e.reason, expires: e.expires });
  }
  if (refused.length > 0) throw new CheckFailedError(`readiness --baseline ${file}: ${refused.join('; ')}`);
  return baseline;
}
