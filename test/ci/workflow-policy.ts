import { parse } from 'yaml';

/**
 * The rules every GitHub Actions workflow here follows (docs/release.md, "What the workflows guarantee"),
 * as a checker over a workflow's text: a list of problems, empty when the workflow complies.
 *
 * - every `uses:` is pinned to a full 40-hex commit SHA with a `# vX.Y.Z` comment (local `./` actions
 *   excepted; `docker://` images by sha256 digest);
 * - the workflow's own `permissions` grant nothing beyond read, and every job declares its own;
 * - `id-token: write` only on jobs that sign or attest, `packages: write` only on jobs that push or sign;
 * - no secret but GITHUB_TOKEN (OIDC for everything else);
 * - a job that moves a deployment (`secops release pin`, or a pull request touching k8s/overlays) and a
 *   job that signs transitively `need` a scan job whose Trivy step fails on fixable HIGH and CRITICAL.
 */

type Permissions = string | Record<string, string> | undefined;

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface Job {
  needs?: string | string[];
  permissions?: Permissions;
  steps?: Step[];
  uses?: string;
}

interface Workflow {
  permissions?: Permissions;
  jobs?: Record<string, Job>;
}

const SHA_PIN = /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/;
const VERSION_COMMENT = /^v\d+(\.\d+){0,2}$/;
const DOCKER_PIN = /^docker:\/\/[^@\s]+@sha256:[0-9a-f]{64}$/;

/** Every `uses:` with its line, read from the text so that the `# vX.Y.Z` comment is seen too. */
function usesLines(text: string): { line: number; ref: string; comment: string | null }[] {
  return text.split('\n').flatMap((raw, i) => {
    const m = /^\s*(?:-\s+)?uses:\s*['"]?([^\s'"#]+)['"]?\s*(?:#\s*(\S+))?/.exec(raw);
    return m ? [{ line: i + 1, ref: m[1] as string, comment: m[2] ?? null }] : [];
  });
}

export function checkPins(text: string): string[] {
  return usesLines(text).flatMap(({ line, ref, comment }) => {
    if (ref.startsWith('./')) return [];
    if (ref.startsWith('docker://')) return DOCKER_PIN.test(ref) ? [] : [`line ${line}: ${ref} is not pinned by sha256 digest`];
    if (!SHA_PIN.test(ref)) return [`line ${line}: ${ref} is not pinned to a full 40-hex commit SHA`];
    if (!comment || !VERSION_COMMENT.test(comment))
      return [`line ${line}: ${ref} has no "# vX.Y.Z" comment naming the pinned version`];
    return [];
  });
}

function grants(permissions: Permissions, scope: string): string | undefined {
  if (permissions === 'write-all') return 'write';
  if (permissions === 'read-all') return 'read';
  return typeof permissions === 'object' && permissions !== null ? permissions[scope] : undefined;
}

function writesAnything(permissions: Permissions): boolean {
  if (permissions === 'write-all') return true;
  return typeof permissions === 'object' && permissions !== null && Object.values(permissions).some((v) => v === 'write');
}

const SIGNS = (step: Step) =>
  /^(sigstore\/cosign-installer|actions\/attest(-build-provenance|-sbom)?)@/.test(step.uses ?? '') ||
  /\bcosign\s+(sign|attest)\b/.test(step.run ?? '');
const PUSHES = (step: Step) =>
  (/^docker\/build-push-action@/.test(step.uses ?? '') &&
    /push=true|^true$/.test(String(step.with?.push ?? step.with?.outputs ?? ''))) ||
  /\bimagetools\s+create\b|\bdocker\s+push\b/.test(step.run ?? '');
const TRIVY = (step: Step) => /^aquasecurity\/trivy-action@/.test(step.uses ?? '');
const DEPLOYS = (step: Step) =>
  /\brelease\s+pin\b/.test(step.run ?? '') ||
  (/^peter-evans\/create-pull-request@/.test(step.uses ?? '') && /k8s\/overlays/.test(String(step.with?.['add-paths'] ?? '')));

/** The Trivy step fails the job on fixable HIGH and CRITICAL findings. */
export function isGatingScan(step: Step): boolean {
  if (!TRIVY(step)) return false;
  const severity = String(step.with?.severity ?? '')
    .split(',')
    .map((s) => s.trim());
  return (
    String(step.with?.['exit-code'] ?? '0') === '1' &&
    String(step.with?.['ignore-unfixed'] ?? 'false') === 'true' &&
    severity.includes('HIGH') &&
    severity.includes('CRITICAL')
  );
}

function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

/** Every job `name` waits for, directly or through other jobs. */
export function transitiveNeeds(jobs: Record<string, Job>, name: string): Set<string> {
  const seen = new Set<string>();
  const queue = [...needsOf(jobs[name] ?? {})];
  while (queue.length > 0) {
    const next = queue.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    queue.push(...needsOf(jobs[next] ?? {}));
  }
  return seen;
}

export function checkWorkflow(text: string): string[] {
  const workflow = (parse(text) ?? {}) as Workflow;
  const problems = checkPins(text);
  const jobs = workflow.jobs ?? {};

  if (workflow.permissions === undefined) problems.push('the workflow declares no top-level permissions (use permissions: {})');
  else if (writesAnything(workflow.permissions)) problems.push('the top-level permissions grant write access; grant it per job');

  for (const secret of new Set([...text.matchAll(/secrets\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))) {
    if (secret !== 'GITHUB_TOKEN') problems.push(`secrets.${secret}: only GITHUB_TOKEN and OIDC, no long-lived secrets`);
  }

  const gatingScans = Object.entries(jobs)
    .filter(([, job]) => (job.steps ?? []).some(isGatingScan))
    .map(([name]) => name);

  for (const [name, job] of Object.entries(jobs)) {
    const steps = job.steps ?? [];
    if (job.permissions === undefined) problems.push(`job ${name} declares no permissions`);
    if (grants(job.permissions, 'id-token') === 'write' && !steps.some(SIGNS))
      problems.push(`job ${name} has id-token: write but neither signs nor attests`);
    if (grants(job.permissions, 'packages') === 'write' && !steps.some((s) => PUSHES(s) || SIGNS(s)))
      problems.push(`job ${name} has packages: write but neither pushes nor signs`);
    if (steps.some(DEPLOYS) || steps.some(SIGNS)) {
      const before = transitiveNeeds(jobs, name);
      if (!gatingScans.some((scan) => before.has(scan)))
        problems.push(
          `job ${name} ${steps.some(DEPLOYS) ? 'moves a deployment' : 'signs'} without needing a scan job that fails on fixable HIGH/CRITICAL (exit-code 1, ignore-unfixed, severity HIGH,CRITICAL)`,
        );
    }
  }
  return problems;
}
