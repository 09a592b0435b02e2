import { checkDockerfile, parseStages } from '../supply-chain/dockerfile.js';
import { type CheckResult, fail, pass } from './result.js';

/**
 * `dockerfile.digests` (`--dockerfile`, default ./Dockerfile when present): the deployed image's
 * Dockerfile pins every base image by digest and follows the image rules of `secops release check`
 * (non-root numeric user, HEALTHCHECK, `COPY --from` of a known stage).
 */
export const DOCKERFILE_CHECK_IDS = ['dockerfile.digests'] as const;

export function dockerfileCheck(file: string, text: string): CheckResult {
  const id = 'dockerfile.digests';
  const title = 'Base images pinned by digest (FROM …@sha256:…), non-root numeric USER, HEALTHCHECK';
  const problems = checkDockerfile(text);
  if (problems.length > 0) return fail(id, title, `${file}: ${problems.join('; ')}`);
  const stages = parseStages(text);
  const bases = [...new Set(stages.map((s) => s.image).filter((image) => image.includes('@sha256:')))];
  return pass(
    id,
    title,
    `${file}: ${stages.length} stage(s), base image(s) ${bases.map((b) => b.replace(/@sha256:([0-9a-f]{12})[0-9a-f]+/, '@sha256:$1…')).join(', ')}`,
  );
}
