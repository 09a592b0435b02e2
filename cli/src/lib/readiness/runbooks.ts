import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CheckResult, fail, pass } from './result.js';

/**
 * The runbooks tier (`--runbooks-dir`, default ./runbooks when present): the operational runbooks the
 * checklist asks for exist, have content, and carry the sections a responder looks for. Headings are
 * matched case-insensitively by their start, so a reworded tail does not fail the check.
 */
interface RunbookSpec {
  id: string;
  file: string;
  title: string;
  headings: readonly string[];
  /** Words the body must mention (the checklist's "where logs, metrics, traces"). */
  mentions?: readonly string[];
}

export const RUNBOOKS: readonly RunbookSpec[] = [
  {
    id: 'runbooks.incident-response',
    file: 'incident-response.md',
    title: 'Incident response playbook: where logs, metrics and traces are; severities; running and closing an incident',
    headings: ['Where things are', 'Severity', 'Running the incident', 'Communication'],
    mentions: ['logs', 'metrics', 'traces'],
  },
  {
    id: 'runbooks.deploy-rollback',
    file: 'deploy-rollback.md',
    title: 'Deployment and rollback procedure',
    headings: ['Deploying a release', 'Rolling a release back'],
  },
  {
    id: 'runbooks.secret-rotation',
    file: 'secret-rotation.md',
    title: 'Secret rotation steps: JWT signing keys and database credentials',
    headings: ['JWT signing keys', 'Database credentials'],
  },
  {
    id: 'runbooks.backup-restore',
    file: 'backup-restore.md',
    title: 'Backup restore steps and restore drills',
    headings: ['Restore procedure', 'When a drill fails'],
  },
  {
    id: 'runbooks.on-call-escalation',
    file: 'on-call-escalation.md',
    title: 'On-call escalation matrix: roles, timings, the matrix by alert area',
    headings: ['Roles', 'Timings', 'Matrix'],
  },
];

export const RUNBOOK_CHECK_IDS = RUNBOOKS.map((r) => r.id);

/** A runbook needs at least this much text besides its headings to count as written. */
const MIN_BODY_CHARS = 200;

export function runbookChecks(dir: string): CheckResult[] {
  return RUNBOOKS.map((spec) => {
    const file = join(dir, spec.file);
    if (!existsSync(file)) return fail(spec.id, spec.title, `${file}: missing`);
    const text = readFileSync(file, 'utf8');
    const headings = [...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => (m[1] as string).trim().toLowerCase());
    const body = text.replace(/^#{1,6}\s+.*$/gm, '').replace(/\s+/g, '');
    const problems = [
      body.length < MIN_BODY_CHARS && `only ${body.length} characters of text`,
      ...spec.headings.filter((h) => !headings.some((seen) => seen.startsWith(h.toLowerCase()))).map((h) => `no "${h}" section`),
      ...(spec.mentions ?? []).filter((w) => !new RegExp(`\\b${w}\\b`, 'i').test(text)).map((w) => `never mentions ${w}`),
    ].filter((p): p is string => typeof p === 'string');
    return problems.length === 0
      ? pass(
          spec.id,
          spec.title,
          `${file}: ${headings.length} sections, including ${spec.headings.map((h) => `"${h}"`).join(', ')}`,
        )
      : fail(spec.id, spec.title, `${file}: ${problems.join('; ')}`);
  });
}
