import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CheckFailedError, CliError, UsageError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { checkImageDigest, DIGEST, imagesOf, overlayFiles, pinDigest } from '../lib/supply-chain/release-gate.js';

export interface ReleasePinOptions {
  imageDigest: string;
  cwd?: string;
}

/** `secops release pin`: every k8s/overlays/*\/kustomization.yaml image entry → the digest. */
export async function run(options: ReleasePinOptions, ctx: CliContext): Promise<{ files: string[]; digest: string }> {
  const out = createReporter(ctx);
  if (!DIGEST.test(options.imageDigest))
    throw new UsageError(`--image-digest ${options.imageDigest} is not sha256:<64 hex digits>`);
  const cwd = options.cwd ?? process.cwd();
  const files = overlayFiles(cwd);
  if (files.length === 0) throw new CliError(`no k8s/overlays/*/kustomization.yaml under ${cwd}`);
  const changed: string[] = [];
  for (const file of files) {
    const path = join(cwd, file);
    const before = readFileSync(path, 'utf8');
    const after = pinDigest(before, options.imageDigest);
    if (after !== before) {
      writeFileSync(path, after);
      changed.push(file);
    }
  }
  // Read back what was written: the pin must hold for every image entry of every overlay.
  const images = files.flatMap((file) => imagesOf(file, readFileSync(join(cwd, file), 'utf8')));
  const verified = checkImageDigest(options.imageDigest, true, images);
  if (!verified?.ok) throw new CheckFailedError(`release pin: ${verified?.detail ?? 'no digest check'}`);
  const result = { files: changed, digest: options.imageDigest };
  out.json(result);
  out.line(
    changed.length ? `pinned ${options.imageDigest} in ${changed.join(', ')}` : `already pinned at ${options.imageDigest}`,
  );
  return result;
}
