import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { parseDocument } from 'yaml';

/**
 * The checks `secops release check` makes before a tag becomes a deployment (docs/release.md). Plain
 * functions over file contents; the command gathers the inputs (files, `git status`) and reports.
 */

export interface ReleaseCheck {
  name: 'tag' | 'changelog' | 'clean-tree' | 'image-digest';
  ok: boolean;
  detail: string;
}

/** Deployments move only by digest: `sha256:` and 64 lowercase hex digits. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `vX.Y.Z` (a semver, pre-release allowed) → `X.Y.Z`; anything else → null. */
export function versionOfTag(tag: string): string | null {
  const match = /^v(.+)$/.exec(tag);
  return match?.[1] && semver.valid(match[1]) === match[1] ? match[1] : null;
}

export function checkTag(tag: string | undefined, packageVersion: string): ReleaseCheck {
  if (!tag) return { name: 'tag', ok: false, detail: 'no tag: pass --tag vX.Y.Z (default: GITHUB_REF_NAME)' };
  const version = versionOfTag(tag);
  if (version === null) return { name: 'tag', ok: false, detail: `${tag} is not v<semver> (e.g. v${packageVersion})` };
  if (version !== packageVersion)
    return { name: 'tag', ok: false, detail: `${tag} does not match package.json version ${packageVersion}` };
  return { name: 'tag', ok: true, detail: `${tag} matches package.json version ${packageVersion}` };
}

/**
 * A changelog entry is a level-2 heading naming the version: `## 0.2.0 (2026-12-06)` as
 * `secops release notes` writes it, or Keep a Changelog's `## [0.2.0] - 2026-12-06`. `## Unreleased`
 * does not count.
 */
export function checkChangelog(changelog: string | null, version: string): ReleaseCheck {
  if (changelog === null) return { name: 'changelog', ok: false, detail: 'CHANGELOG.md is missing' };
  const escaped = version.replace(/[.+]/g, '\\$&');
  const heading = new RegExp(`^##[ \\t]+\\[?v?${escaped}\\]?(?:[ \\t]|$)`, 'm');
  return heading.test(changelog)
    ? { name: 'changelog', ok: true, detail: `CHANGELOG.md has an entry for ${version}` }
    : { name: 'changelog', ok: false, detail: `CHANGELOG.md has no "## ${version}" entry (secops release notes writes one)` };
}

/** `git status --porcelain` output → the check; untracked files count (they would not be in the release). */
export function checkCleanTree(porcelain: string): ReleaseCheck {
  const changed = porcelain.split('\n').filter((l) => l.trim() !== '');
  if (changed.length === 0) return { name: 'clean-tree', ok: true, detail: 'the working tree is clean' };
  const shown = changed.slice(0, 5).map((l) => l.slice(3));
  const more = changed.length > shown.length ? ` and ${changed.length - shown.length} more` : '';
  return { name: 'clean-tree', ok: false, detail: `uncommitted changes: ${shown.join(', ')}${more}` };
}

export interface OverlayImage {
  /** The kustomization file, relative to the repository root. */
  file: string;
  name: string;
  digest: string | null;
}

const OVERLAYS = join('k8s', 'overlays');

/** Every kustomization file under k8s/overlays/, relative to the root, sorted. */
export function overlayFiles(root: string): string[] {
  if (!existsSync(join(root, OVERLAYS))) return [];
  return readdirSync(join(root, OVERLAYS), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(OVERLAYS, d.name, 'kustomization.yaml'))
    .filter((file) => existsSync(join(root, file)))
    .sort();
}

/** The `images:` entries of one kustomization file. */
export function imagesOf(file: string, text: string): OverlayImage[] {
  const doc = parseDocument(text);
  const images = doc.toJS()?.images;
  if (!Array.isArray(images)) return [];
  return images.map((i: { name?: unknown; digest?: unknown }) => ({
    file,
    name: String(i.name ?? ''),
    digest: typeof i.digest === 'string' ? i.digest : null,
  }));
}

export function checkImageDigest(digest: string | undefined, expectBuilt: boolean, images: OverlayImage[]): ReleaseCheck | null {
  if (digest === undefined || digest === '') {
    // An empty --image-digest "$DIGEST" in CI means the build's output was lost: with --expect-built
    // that is a failure, never a silently skipped check.
    return expectBuilt
      ? { name: 'image-digest', ok: false, detail: '--expect-built: no --image-digest given (the build output is missing)' }
      : null;
  }
  if (!DIGEST.test(digest)) return { name: 'image-digest', ok: false, detail: `${digest} is not sha256:<64 hex digits>` };
  if (images.length === 0)
    return { name: 'image-digest', ok: false, detail: 'no images: entry in any k8s/overlays/*/kustomization.yaml' };
  const wrong = images.filter((i) => i.digest !== digest);
  if (wrong.length > 0)
    return {
      name: 'image-digest',
      ok: false,
      detail: wrong.map((i) => `${i.file} pins ${i.name} at ${i.digest ?? 'no digest'}`).join('; '),
    };
  return { name: 'image-digest', ok: true, detail: `${images.length} overlay image(s) pinned at ${digest}` };
}

/**
 * Sets the digest of every `images:` entry in a kustomization file, keeping its comments and layout;
 * a `newTag` is removed (a deployment names its image by digest only). Returns the new text.
 */
export function pinDigest(text: string, digest: string): string {
  if (!DIGEST.test(digest)) throw new Error(`${digest} is not sha256:<64 hex digits>`);
  const doc = parseDocument(text);
  const images = doc.get('images');
  if (!images || typeof images !== 'object' || !('items' in images)) return text;
  for (const item of (images as { items: unknown[] }).items) {
    const entry = item as { set(key: string, value: string): void; delete(key: string): boolean };
    entry.set('digest', digest);
    entry.delete('newTag');
  }
  return doc.toString();
}
