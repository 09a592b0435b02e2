import { defineGroup, examples } from '../lib/command-kit.js';
import { AUDIT_DEFAULTS } from '../lib/supply-chain/audit-defaults.js';
import type { ReleaseNotesOptions } from './release.js';
import type { ReleaseCheckOptions } from './release-check.js';
import type { ReleasePinOptions } from './release-pin.js';
import type { ReleaseTrivyIgnoreOptions } from './release-trivy-ignore.js';

/**
 * `secops release notes` (run: ./release.ts), `check` (./release-check.ts), `pin` (./release-pin.ts),
 * `trivy-ignore` (./release-trivy-ignore.ts). docs/release.md tells where each runs in the pipeline.
 */

const CHECK_HELP = `
Checks (every failed one is listed):
  tag           --tag (default: GITHUB_REF_NAME) is v<package.json version>
  changelog     CHANGELOG.md has a "## <version>" entry
  clean-tree    git status --porcelain is empty (untracked files count)
  image-digest  with --image-digest: every k8s/overlays/*/kustomization.yaml image is pinned at it
                with --expect-built: the digest is required; an empty or missing --image-digest fails
                (a lost build output in CI must not skip the check)

Exit codes: 0 every check passed; 1 a check failed; 2 usage error.
`;

export const releaseGroup = defineGroup('release', (program, action) => {
  const release = program
    .command('release')
    .description('release chores and the release gate (docs/release.md)')
    .addHelpText(
      'after',
      examples(
        'secops release notes',
        'secops release check --tag v0.2.0',
        'secops release pin --image-digest sha256:…',
        'secops release trivy-ignore --out build/trivyignore.yaml',
      ),
    );

  release
    .command('notes')
    .description('a changelog section from the conventional commits since the last tag (breaking changes first)')
    .option('--from <ref>', 'start after this tag or commit (default: the latest tag, else the first commit)')
    .option('--to <ref>', 'end at this ref', 'HEAD')
    .option('--version <version>', 'the heading (default: package.json version)')
    .addHelpText(
      'after',
      examples('secops release notes', 'secops release notes --from v0.1.0 --to HEAD --version 0.2.0 >> CHANGELOG.md'),
    )
    .action(
      action<ReleaseNotesOptions, { from?: string; to: string; version?: string }>(
        () => import('./release.js'),
        ({ flags }) => ({ from: flags.from, to: flags.to, version: flags.version }),
      ),
    );

  release
    .command('check')
    .description('the release gate: tag = package.json version, CHANGELOG entry, clean tree, overlays pinned at the image digest')
    .option('--tag <tag>', 'the release tag vX.Y.Z (default: GITHUB_REF_NAME)')
    .option('--image-digest <digest>', 'sha256:… of the built image: every overlay must pin it')
    .option('--expect-built', 'the image has been built: --image-digest is required and must be non-empty')
    .addHelpText(
      'after',
      CHECK_HELP +
        examples(
          'secops release check --tag v0.2.0',
          'secops release check --tag v0.2.0 --image-digest sha256:… --expect-built',
          'secops --json release check',
        ),
    )
    .action(
      action<ReleaseCheckOptions, { tag?: string; imageDigest?: string; expectBuilt?: boolean }>(
        () => import('./release-check.js'),
        ({ flags }) => ({ tag: flags.tag, imageDigest: flags.imageDigest, expectBuilt: flags.expectBuilt === true }),
      ),
    );

  release
    .command('pin')
    .description('set the image digest of every k8s/overlays/*/kustomization.yaml (deployments move only by digest)')
    .requiredOption('--image-digest <digest>', 'sha256:<64 hex> of the built, scanned and signed image')
    .addHelpText(
      'after',
      `\nExit codes: 0 pinned; 1 no overlay or the pin did not hold; 2 not a sha256 digest.\n${examples('secops release pin --image-digest sha256:…')}`,
    )
    .action(
      action<ReleasePinOptions, { imageDigest: string }>(
        () => import('./release-pin.js'),
        ({ flags }) => ({ imageDigest: flags.imageDigest }),
      ),
    );

  release
    .command('trivy-ignore')
    .description("write Trivy's ignore file from the accepted advisories; an expired entry or one without reason/expiry fails")
    .option('--ignore-file <file>', 'accepted advisories, each with a reason and an expiry', AUDIT_DEFAULTS.ignoreFile)
    .requiredOption('--out <file>', "where to write Trivy's YAML ignore file (trivy --ignorefile, trivy-action trivyignores)")
    .addHelpText(
      'after',
      `\nExit codes: 0 written; 1 an entry is expired or incomplete (nothing written); 2 usage error.\n${examples('secops release trivy-ignore --out build/trivyignore.yaml')}`,
    )
    .action(
      action<ReleaseTrivyIgnoreOptions, { ignoreFile: string; out: string }>(
        () => import('./release-trivy-ignore.js'),
        ({ flags }) => ({ ignoreFile: flags.ignoreFile, out: flags.out }),
      ),
    );
});
