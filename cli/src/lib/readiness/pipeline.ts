import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { type CheckResult, fail, verdict } from './result.js';

/**
 * The pipeline tier (`--workflows <dir>`, default ./.github/workflows when present): what the CI and
 * release workflows of the deployed repository run — the supply-chain items of the checklist are about
 * the pipeline, not the running service. A step's `run:` counts with the scripts it runs (`bash
 * .ci/run`), read from the repository the directory belongs to (two levels up).
 */
export const PIPELINE_CHECK_IDS = [
  'pipeline.audit',
  'pipeline.licences',
  'pipeline.sbom',
  'pipeline.image-scan',
  'pipeline.rebuild',
  'pipeline.release',
] as const;

interface Step {
  name: string;
  uses: string;
  with: Record<string, unknown>;
  /** The step's `run:` with the text of the scripts it runs. */
  text: string;
  /** The scripts it runs, relative to the repository. */
  scripts: string[];
}

interface Job {
  id: string;
  needs: string[];
  steps: Step[];
}

export interface Workflow {
  file: string;
  onChange: boolean;
  onTag: boolean;
  schedules: string[];
  jobs: Job[];
}

type Raw = Record<string, any>;

/** Scripts a `run:` invokes by path (`bash .ci/run`, `./scripts/x.sh`) that exist in the repository. */
function scriptsOf(run: string, root: string): string[] {
  // `bash path`, `sh path` or `./path`: a program such as `node_modules/.bin/node` is not a script of the repository.
  const paths = [...run.matchAll(/(?:^|[\s;&|(])(?:(?:ba)?sh\s+([\w./-]+)|(\.\/[\w./-]+))/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  );
  return paths.filter((p) => {
    const full = resolve(root, p);
    return full.startsWith(root) && !/\.ya?ml$/.test(p) && existsSync(full) && statSync(full).isFile();
  });
}

export function readWorkflows(dir: string): Workflow[] {
  const root = resolve(dir, '../..');
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()
    .map((n) => {
      const file = join(dir, n);
      const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Raw;
      const on = (
        typeof doc.on === 'string'
          ? { [doc.on]: {} }
          : Array.isArray(doc.on)
            ? Object.fromEntries(doc.on.map((k: string) => [k, {}]))
            : (doc.on ?? {})
      ) as Raw;
      const jobs = Object.entries((doc.jobs ?? {}) as Raw).map(([id, job]) => ({
        id,
        needs: ([] as string[]).concat(job?.needs ?? []),
        steps: ((job?.steps ?? []) as Raw[]).map((s) => {
          const run = typeof s.run === 'string' ? s.run : '';
          const scripts = scriptsOf(run, root);
          return {
            name: String(s.name ?? ''),
            uses: String(s.uses ?? ''),
            with: (s.with ?? {}) as Record<string, unknown>,
            text: [run, ...scripts.map((p) => readFileSync(resolve(root, p), 'utf8'))].join('\n').replace(/^\s*#.*$/gm, ''),
            scripts,
          };
        }),
      }));
      return {
        file,
        onChange:
          'pull_request' in on || ('push' in on && !(on.push && 'tags' in (on.push as Raw) && !('branches' in (on.push as Raw)))),
        onTag: Boolean(on.push && typeof on.push === 'object' && 'tags' in (on.push as Raw)),
        schedules: ((on.schedule ?? []) as Raw[]).map((s) => String(s.cron)),
        jobs,
      };
    });
}

const where = (w: Workflow, j: Job, s: Step) =>
  `${basename(w.file)} job ${j.id}: "${s.name || s.uses || 'run'}"${s.scripts.length > 0 ? ` (runs ${s.scripts.join(', ')})` : ''}`;

function findSteps(workflows: readonly Workflow[], keep: (w: Workflow) => boolean, match: (s: Step) => boolean) {
  return workflows.filter(keep).flatMap((w) => w.jobs.flatMap((j) => j.steps.filter(match).map((s) => ({ w, j, s }))));
}

/** Jobs that wait for `job` (directly or through others). */
function dependents(w: Workflow, job: string): string[] {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const j of w.jobs)
      if (!out.has(j.id) && j.needs.some((n) => n === job || out.has(n))) {
        out.add(j.id);
        grew = true;
      }
  }
  return [...out];
}

/**
 * `secops <command>` run as a program (`npx secops`, `bin/secops.js`, `secops` at a line's start), with
 * global flags before the command; not a mention in a label or an echo.
 */
const secopsRuns = (text: string, command: string) =>
  new RegExp(`(?:\\bnpx\\s+secops|\\bbin/secops(?:\\.js)?|^\\s*secops)\\s+(?:--\\S+\\s+)*${command}\\b`, 'm').test(text);
const TRIVY = (s: Step) => s.uses.startsWith('aquasecurity/trivy-action') || /\b(trivy|grype)\s+image\b/.test(s.text);
const GATING = (s: Step) => String(s.with['exit-code'] ?? '') === '1' || /--exit-code\s+1|--fail-on\s+\w+/.test(s.text);

export function pipelineChecks(dir: string): CheckResult[] {
  let workflows: Workflow[];
  try {
    workflows = readWorkflows(dir);
  } catch (err) {
    return PIPELINE_CHECK_IDS.map((id) => fail(id, id, `${dir}: ${(err as Error).message.split('\n')[0]}`));
  }
  const root = resolve(dir, '../..');
  const results: CheckResult[] = [];
  const seen = (list: { w: Workflow; j: Job; s: Step }[]) => list.map(({ w, j, s }) => where(w, j, s)).join('; ');

  const audits = findSteps(
    workflows,
    (w) => w.onChange,
    (s) => secopsRuns(s.text, 'audit'),
  );
  results.push(
    verdict(
      audits.length > 0,
      'pipeline.audit',
      'Dependency advisories gate CI: `secops audit` runs on every pull request / push',
      audits.length > 0
        ? seen(audits)
        : `no workflow run on pull requests or pushes runs secops audit (${workflows.length} workflow(s) in ${dir})`,
    ),
  );

  const licencesFile = join(root, '.secops/licenses.json');
  let policy: Raw | undefined;
  try {
    policy = JSON.parse(readFileSync(licencesFile, 'utf8')) as Raw;
  } catch {
    policy = undefined;
  }
  const policyKeys = policy ? Object.keys(policy).filter((k) => !k.startsWith('$') && k !== 'comment') : [];
  const licencesApplied = audits.length > 0 && policyKeys.length > 0;
  results.push(
    verdict(
      licencesApplied,
      'pipeline.licences',
      'Licences, advisories and bans: `secops audit` applies .secops/licenses.json in CI',
      licencesApplied
        ? `${licencesFile}: ${policyKeys.join(', ')}; applied by ${seen(audits.slice(0, 1))}`
        : [
            audits.length === 0 && 'secops audit does not run in CI',
            policyKeys.length === 0 && `${licencesFile}: missing or empty`,
          ]
            .filter(Boolean)
            .join('; '),
    ),
  );

  const sboms = findSteps(
    workflows,
    (w) => w.onTag,
    (s) => s.uses.startsWith('anchore/sbom-action') || secopsRuns(s.text, 'sbom') || /^\s*syft\s/m.test(s.text),
  );
  results.push(
    verdict(
      sboms.length > 0,
      'pipeline.sbom',
      'An SBOM per release: a tag-triggered workflow generates one',
      sboms.length > 0
        ? seen(sboms)
        : 'no workflow triggered by a tag generates an SBOM (anchore/sbom-action, syft, secops sbom)',
    ),
  );

  const scanTitle = 'Image vulnerability scan gates the release: a failing scan (exit code 1) stops the jobs after it';
  const scans = findSteps(
    workflows,
    (w) => w.onTag,
    (s) => TRIVY(s),
  );
  const gating = scans.filter(({ s }) => GATING(s)).map((x) => ({ ...x, after: dependents(x.w, x.j.id) }));
  const gate = gating.find((g) => g.after.length > 0);
  results.push(
    verdict(
      gate !== undefined,
      'pipeline.image-scan',
      scanTitle,
      gate
        ? `${where(gate.w, gate.j, gate.s)} (exit-code 1${gate.s.with.severity ? `, ${gate.s.with.severity}` : ''}) gates ${gate.after.join(', ')}`
        : scans.length === 0
          ? 'no tag-triggered workflow scans the image (Trivy or Grype)'
          : gating.length === 0
            ? `${seen(scans)}: the scan does not fail on findings (exit-code is not 1)`
            : `${seen(gating)}: no job needs the scan, so a failing scan stops nothing`,
    ),
  );

  const rebuildTitle = 'Base image CVEs tracked on a schedule: a scheduled workflow rebuilds and scans the image';
  const rebuilds = findSteps(
    workflows,
    (w) => w.schedules.length > 0,
    (s) => TRIVY(s),
  );
  results.push(
    verdict(
      rebuilds.length > 0,
      'pipeline.rebuild',
      rebuildTitle,
      rebuilds.length > 0
        ? `${seen(rebuilds.slice(0, 1))} on "${rebuilds[0]?.w.schedules.join('", "')}"`
        : 'no scheduled workflow (on.schedule) scans the image',
    ),
  );

  const releaseTitle =
    'Releases tagged with a changelog: a tag-triggered workflow checks the tag against the version and CHANGELOG.md';
  const releases = findSteps(
    workflows,
    (w) => w.onTag,
    (s) => secopsRuns(s.text, 'release\\s+(?:check|notes)'),
  );
  results.push(
    verdict(
      releases.length > 0,
      'pipeline.release',
      releaseTitle,
      releases.length > 0
        ? seen(releases)
        : 'no tag-triggered workflow runs `secops release check` (tag = version, CHANGELOG entry)',
    ),
  );
  return results;
}
