import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { isNpmAuditReport, type OsvRecord, osvFromNpmAudit, parseOsvFile } from '../lib/supply-chain/advisories.js';
import { readAdvisorySnapshot, snapshotDocument } from '../lib/supply-chain/advisory-snapshot.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import { readJsonFile, writeJsonFile } from '../lib/supply-chain/files.js';
import { type InstalledPackage, readProductionTree } from '../lib/supply-chain/installed.js';
import { npmAuditRecords } from '../lib/supply-chain/npm-audit.js';
import { type OsvQuery, osvIdsFor, osvRecords } from '../lib/supply-chain/osv-client.js';
import { packagesFromSbom } from '../lib/supply-chain/sbom-components.js';

/** `secops audit update-advisories`: refresh the committed offline advisory snapshot and stamp its date. */
export interface UpdateAdvisoriesOptions {
  /** An `npm audit --json` report or an OSV dump (array, or `{ vulns: [...] }`) instead of asking a service. */
  from?: string;
  /** Ask `npm audit` (npm's bulk advisory endpoint) instead of OSV. */
  npmAudit?: boolean;
  /** OSV's API base URL (default https://api.osv.dev). */
  osvUrl?: string;
  /** An image SBOM (CycloneDX JSON) whose npm and Debian packages are queried too. */
  sbom?: string;
  out?: string;
  cwd?: string;
  /** YYYY-MM-DD stamped as the retrieval date; default today (UTC). */
  today?: string;
  /** Replaces `npm ls` (tests). */
  readPackages?: (cwd: string) => Promise<InstalledPackage[]>;
}

export interface UpdateAdvisoriesResult {
  path: string;
  records: number;
  added: string[];
  retrieved: string;
  source: string;
  queried?: { npm: number; debian: number };
}

export async function run(options: UpdateAdvisoriesOptions, ctx: CliContext): Promise<UpdateAdvisoriesResult> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const target = resolve(cwd, options.out ?? AUDIT_DEFAULTS.advisories);
  const retrieved = options.today ?? new Date().toISOString().slice(0, 10);
  let incoming: OsvRecord[];
  let source: string;
  let queried: UpdateAdvisoriesResult['queried'];
  if (options.from) {
    const document = readJsonFile(resolve(cwd, options.from), 'advisory input');
    if (isNpmAuditReport(document)) incoming = osvFromNpmAudit(document);
    else {
      const parsed = parseOsvFile(document);
      if (parsed.problems.length > 0) throw new CliError(`not an npm audit report or OSV dump: ${parsed.problems[0]}`);
      incoming = parsed.records;
    }
    source = `file ${options.from}`;
  } else if (options.npmAudit) {
    const live = await out.step('Asking npm audit', () => npmAuditRecords(cwd));
    if (!live.records)
      throw new CliError(`npm audit unavailable (${live.reason}); pass --from FILE with an npm audit or OSV export`);
    incoming = live.records;
    source = 'npm audit';
  } else {
    const baseUrl = (options.osvUrl ?? AUDIT_DEFAULTS.osvUrl).replace(/\/+$/, '');
    const queries = await collectQueries(options, cwd);
    queried = {
      npm: queries.filter((q) => q.package.ecosystem === 'npm').length,
      debian: queries.filter((q) => q.package.ecosystem !== 'npm').length,
    };
    const ids = await out.step(`Asking OSV (${baseUrl}) about ${queries.length} packages`, () => osvIdsFor(baseUrl, queries));
    incoming = await out.step(`Fetching ${ids.length} OSV records`, () => osvRecords(baseUrl, ids));
    source = `OSV ${baseUrl} (${queried.npm} npm packages${queried.debian ? `, ${queried.debian} Debian source packages` : ''})`;
  }
  // Records curated by hand stay unless the new input carries the same id.
  const existing = existsSync(target)
    ? readAdvisorySnapshot(readJsonFile(target, 'advisory file')).snapshot
    : { sources: [], records: [] };
  const byId = new Map(existing.records.map((r) => [r.id, r]));
  const added = incoming.filter((r) => !byId.has(r.id)).map((r) => r.id);
  for (const r of incoming) byId.set(r.id, r);
  const records = [...byId.values()];
  writeJsonFile(target, snapshotDocument({ retrieved, sources: [`${retrieved}: ${source}`, ...existing.sources], records }));
  const result: UpdateAdvisoriesResult = {
    path: target,
    records: records.length,
    added,
    retrieved,
    source,
    ...(queried ? { queried } : {}),
  };
  out.json(result);
  out.success(`${target}: ${records.length} records (${added.length} new), retrieved ${retrieved} from ${source}`);
  return result;
}

/**
 * What to ask OSV: every installed production npm package by name (all its advisories, affecting
 * our version or not, so the snapshot knows them), and the Debian source packages of the SBOM at
 * their versions (Debian's history per package runs to hundreds of records; only those affecting
 * the image are kept).
 */
async function collectQueries(options: UpdateAdvisoriesOptions, cwd: string): Promise<OsvQuery[]> {
  const installed = await (options.readPackages ?? readProductionTree)(cwd);
  const fromSbom = options.sbom
    ? packagesFromSbom(readJsonFile(resolve(cwd, options.sbom), 'SBOM') as { components?: unknown }).packages
    : [];
  const queries = new Map<string, OsvQuery>();
  for (const p of [...installed, ...fromSbom]) {
    const ecosystem = p.ecosystem ?? 'npm';
    if (ecosystem === 'npm') queries.set(`npm|${p.name}`, { package: { name: p.name, ecosystem } });
    else {
      const name = p.sourceName ?? p.name;
      queries.set(`${ecosystem}|${name}|${p.version}`, { package: { name, ecosystem }, version: p.version });
    }
  }
  return [...queries.values()];
}
