import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../errors.js';
import type { SourceIdentity } from './build-info.js';
import { runFile } from './exec.js';

/** The parts of a CycloneDX document this module touches. */
export interface CycloneDxBom {
  bomFormat: string;
  specVersion: string;
  metadata?: {
    component?: { name?: string; version?: string; properties?: { name: string; value: string }[]; [k: string]: unknown };
    properties?: { name: string; value: string }[];
    [k: string]: unknown;
  };
  components?: { name: string; group?: string; version?: string; purl?: string; licenses?: unknown[]; [k: string]: unknown }[];
  [k: string]: unknown;
}

const CLI = join('node_modules', '@cyclonedx', 'cyclonedx-npm', 'bin', 'cyclonedx-npm-cli.js');

/**
 * Runs cyclonedx-npm over the installed tree (offline; ~1–6 s): production dependencies only,
 * CycloneDX 1.6 JSON, reproducible (no timestamp or random serial number) and schema-validated.
 */
export async function generateBom(cwd: string): Promise<CycloneDxBom> {
  const cli = join(cwd, CLI);
  if (!existsSync(cli))
    throw new CliError('@cyclonedx/cyclonedx-npm is not installed (it is a dev dependency: run `npm ci` without --omit=dev)');
  const args = [
    '--omit',
    'dev',
    '--spec-version',
    '1.6',
    '--output-reproducible',
    '--validate',
    '--output-format',
    'JSON',
    '--output-file',
    '-',
  ];
  const result = await runFile(process.execPath, [cli, ...args], { cwd, timeoutMs: 180_000 });
  if (result.code !== 0) {
    const why = result.timedOut ? 'timed out' : `exit ${result.code}`;
    throw new CliError(`cyclonedx-npm failed (${why}): ${lastLines(result.stderr)}`);
  }
  let bom: unknown;
  try {
    bom = JSON.parse(result.stdout);
  } catch {
    throw new CliError('cyclonedx-npm did not print JSON');
  }
  assertCycloneDx16(bom);
  return bom;
}

export function assertCycloneDx16(bom: unknown): asserts bom is CycloneDxBom {
  const b = bom as Partial<CycloneDxBom> | null;
  const problems: string[] = [];
  if (b?.bomFormat !== 'CycloneDX') problems.push('bomFormat is not "CycloneDX"');
  if (b?.specVersion !== '1.6') problems.push(`specVersion is ${JSON.stringify(b?.specVersion)}, not "1.6"`);
  if (!Array.isArray(b?.components)) problems.push('components is not an array');
  if (problems.length > 0) throw new CliError(`not a CycloneDX 1.6 document: ${problems.join('; ')}`);
}

export const PROPERTY = Object.freeze({
  gitSha: 'rampart:build:git_sha',
  gitDirty: 'rampart:build:git_dirty',
  version: 'rampart:build:version',
});

/**
 * Stamps the build's identity into metadata.component: its version and `rampart:build:*`
 * properties (sorted, replacing earlier stamps), so the same tree at the same commit gives the
 * same bytes.
 */
export function stampBom(bom: CycloneDxBom, identity: SourceIdentity): CycloneDxBom {
  const component = { ...(bom.metadata?.component ?? {}) };
  component.version = identity.version;
  const ours = new Set<string>(Object.values(PROPERTY));
  component.properties = [
    ...(component.properties ?? []).filter((p) => !ours.has(p.name)),
    { name: PROPERTY.gitDirty, value: String(identity.gitDirty) },
    { name: PROPERTY.gitSha, value: identity.gitSha },
    { name: PROPERTY.version, value: identity.version },
  ].sort((a, b) => a.name.localeCompare(b.name) || a.value.localeCompare(b.value));
  return { ...bom, metadata: { ...(bom.metadata ?? {}), component } };
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join('\n');
}
