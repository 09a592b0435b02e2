import { defineGroup, examples } from '../lib/command-kit.js';
import type { ReleaseNotesOptions } from './release.js';

/** `secops release notes` (run: ./release.ts). */

export const releaseGroup = defineGroup('release', (program, action) => {
  program
    .command('release')
    .description('release chores')
    .addHelpText('after', examples('secops release notes', 'secops release notes --from v0.1.0 --version 0.2.0'))
    .command('notes')
    .description('a changelog section from the conventional commits since the last tag (breaking changes first)')
    .option('--from <ref>', 'start after this tag or commit (default: the latest tag, else the first commit)')
    .option('--to <ref>', 'end at this ref', 'HEAD')
    .option('--version <version>', 'the heading (default: package.json version)')
    .addHelpText('after', examples('secops release notes', 'secops release notes --from v0.1.0 --to HEAD --version 0.2.0 >> CHANGELOG.md'))
    .action(
      action<ReleaseNotesOptions, { from?: string; to: string; version?: string }>(
        () => import('./release.js'),
        ({ flags }) => ({ from: flags.from, to: flags.to, version: flags.version }),
      ),
    );
});
