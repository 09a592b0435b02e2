import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { AUDIT_DEFAULTS, EOL_SOURCES } from '../lib/supply-chain/audit-defaults.js';
import { writeJsonFile } from '../lib/supply-chain/files.js';
import { buildEolTable, type EolTable } from '../lib/supply-chain/runtime-eol.js';

/** `secops audit update-eol`: refresh the committed end-of-life table from its sources. */
export interface UpdateEolOptions {
  /** Node's schedule.json: a URL or a file (default: Node's repository). */
  nodeSchedule?: string;
  /** distro-info-data's debian.csv (default: the machine's /usr/share/distro-info/debian.csv). */
  debianCsv?: string;
  out?: string;
  cwd?: string;
  /** YYYY-MM-DD; default today (UTC). */
  today?: string;
  fetch?: typeof fetch;
}

export async function run(options: UpdateEolOptions, ctx: CliContext): Promise<{ path: string; nodeLines: number; debianReleases: number }> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const nodeSource = options.nodeSchedule ?? EOL_SOURCES.nodeSchedule;
  const debianSource = options.debianCsv ?? EOL_SOURCES.debianCsv;
  const nodeSchedule = await out.step(`Reading Node's release schedule (${nodeSource})`, () => readSource(nodeSource, cwd, options.fetch));
  const debianCsv = await out.step(`Reading Debian's releases (${debianSource})`, () => readSource(debianSource, cwd, options.fetch));
  let schedule: unknown;
  try {
    schedule = JSON.parse(nodeSchedule);
  } catch {
    throw new CliError(`${nodeSource} is not JSON`);
  }
  let table: EolTable;
  try {
    table = buildEolTable({
      nodeSchedule: schedule,
      nodeSource,
      debianCsv,
      debianSource: debianSource.startsWith('/') ? `distro-info-data ${debianSource}` : debianSource,
      retrieved: options.today ?? new Date().toISOString().slice(0, 10),
    });
  } catch (err) {
    throw new CliError(`cannot build the end-of-life table: ${(err as Error).message}`);
  }
  const target = resolve(cwd, options.out ?? AUDIT_DEFAULTS.eolTable);
  writeJsonFile(target, table);
  const result = { path: target, nodeLines: table.node.lines.length, debianReleases: table.debian.releases.length };
  out.json(result);
  out.success(`${target}: ${result.nodeLines} Node release lines, ${result.debianReleases} Debian releases`);
  return result;
}

async function readSource(source: string, cwd: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    let res: Response;
    try {
      res = await fetchImpl(source, { signal: AbortSignal.timeout(15_000), redirect: 'follow' });
    } catch (err) {
      throw new CliError(`cannot fetch ${source}: ${(err as Error).message}; pass a downloaded copy as a file`);
    }
    if (!res.ok) throw new CliError(`cannot fetch ${source}: HTTP ${res.status}`);
    return res.text();
  }
  const path = resolve(cwd, source);
  if (!existsSync(path)) throw new CliError(`not found: ${path}`, { code: 'file_not_found' });
  return readFileSync(path, 'utf8');
}
