import { defineGroup, examples } from '../lib/command-kit.js';
import type { SbomOptions } from './sbom.js';

/** `secops sbom` (run: ./sbom.ts). No database; files resolve against the working directory. */

export const sbomGroup = defineGroup('sbom', (program, action) => {
  program
    .command('sbom')
    .description('write a CycloneDX 1.6 JSON SBOM of the production dependencies, stamped with version and git SHA')
    .option('--out <file>', 'where to write the SBOM', 'build/sbom.cdx.json')
    .addHelpText('after', examples('secops sbom', 'secops sbom --out dist/sbom.cdx.json', 'secops --json sbom | jq .components'))
    .action(action<SbomOptions, { out: string }>(() => import('./sbom.js'), ({ flags }) => ({ out: flags.out })));
});
