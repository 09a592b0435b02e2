import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { isNpmAuditReport, type OsvRecord, osvFromNpmAudit, parseOsvFile } from '../lib/supply-chain/advisories.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import { readJsonFile, writeJsonFile } from '../lib/supply-chain/files.js';
import { npmAuditRecords } from '../lib/supply-chain/npm-audit.js';

/** `secops audit update-advisories`: refresh the committed offline advisory file. */
export interface UpdateAdvisoriesOptions {
  /** An `npm audit --json` report or an OSV dump (array, or `{ vulns: [...] }`); default: run npm audit. */
  from?: string;
  out?: string;
  cwd?: string;
}

export async function run(
  options: UpdateAdvisoriesOptions,
  ctx: CliContext,
): Promise<{ path: string; records: number; added: string[] }> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const target = resolve(cwd, options.out ?? AUDIT_DEFAULTS.advisories);
  let incoming: OsvRecord[];
  if (options.from) {
    const document = readJsonFile(resolve(cwd, options.from), 'advisory input');
    if (isNpmAuditReport(document)) incoming = osvFromNpmAudit(document);
    else {
      const parsed = parseOsvFile(document);
      if (parsed.problems.length > 0) throw new CliError(`not an npm audit report or OSV dump: ${parsed.problems[0]}`);
      incoming = parsed.records;
    }
  } else {
    const live = await out.step('Asking npm audit', () => npmAuditRecords(cwd));
    if (!live.records)
      throw new CliError(`npm audit unavailable (${live.reason}); pass --from FILE with an npm audit or OSV export`);
    incoming = live.records;
  }
  // Records curated by hand stay unless the new input carries the same id.
  const existing = existsSync(target) ? parseOsvFile(readJsonFile(target, 'advisory file')).records : [];
  const byId = new Map(existing.map((r) => [r.id, r]));
  const added = incoming.filter((r) => !byId.has(r.id)).map((r) => r.id);
  for (const r of incoming) byId.set(r.id, r);
  const records = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  writeJsonFile(target, records);
  const result = { path: target, records: records.length, added };
  out.json(result);
  out.success(`${target}: ${records.length} records (${added.length} new)`);
  return result;
}
