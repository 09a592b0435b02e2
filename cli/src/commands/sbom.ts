import { resolve } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { createReporter } from '../lib/output.js';
import { sourceIdentity } from '../lib/supply-chain/build-info.js';
import { writeJsonFile } from '../lib/supply-chain/files.js';
import { generateBom, stampBom } from '../lib/supply-chain/sbom.js';

/** `secops sbom`: a CycloneDX 1.6 JSON SBOM of the production dependencies. */
export interface SbomOptions {
  out?: string;
  /** Project root; default: the working directory. */
  cwd?: string;
}

export interface SbomResult {
  path: string;
  specVersion: string;
  components: number;
  version: string;
  gitSha: string;
  gitDirty: boolean;
}

export async function run(options: SbomOptions, ctx: CliContext): Promise<SbomResult> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const path = resolve(cwd, options.out ?? 'build/sbom.cdx.json');
  const identity = await sourceIdentity(cwd, ctx.env);
  const bom = stampBom(await out.step('Generating the SBOM (cyclonedx-npm)', () => generateBom(cwd)), identity);
  writeJsonFile(path, bom);
  const result: SbomResult = { path, specVersion: bom.specVersion, components: bom.components?.length ?? 0, ...identity };
  out.json(result);
  out.success(
    `${path}: CycloneDX ${bom.specVersion}, ${result.components} components, ${identity.version} at ${identity.gitSha.slice(0, 12)}${identity.gitDirty ? ' (dirty work tree)' : ''}`,
  );
  if (identity.gitDirty) out.warn('the work tree has uncommitted changes: the SBOM may not match the commit it names');
  return result;
}
