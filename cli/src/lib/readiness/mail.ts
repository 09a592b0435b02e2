import type { Database } from '../../../../service/src/public/db.js';
import { formatAge } from '../duration.js';
import type { CheckResult } from './result.js';

/**
 * The mail items of the readiness checklist (runbooks/mail-delivery.md):
 *
 * - `mail.configured`, from the metrics listener: the build runs the mail sender and the replica
 *   behind --metrics-url has handed mail to the relay. Whether MAIL_URL is set cannot be seen from
 *   outside — production refuses to start without it (exit 78) —, so a replica that has sent nothing
 *   yet leaves the item manual, with how to prove it by hand.
 * - `mail.outbox`, the outbox draining: from the database when there is one (no mail waiting longer
 *   than OUTBOX_MAX_WAIT_MS, no dead letter in the last DEAD_LETTER_WINDOW_MS), else from the metrics
 *   (the oldest waiting mail only: dead letters have no age there).
 */
export const MAIL_CONFIGURED_TITLE =
  'Mail configured: the sender runs and this replica has delivered mail to the relay (MAIL_URL; production refuses to start without it)';
export const MAIL_OUTBOX_TITLE = 'Mail outbox draining: no mail waiting over 15 minutes, no dead letter in the last 24 hours';

/** The wait RampartMailOutboxStuck pages at (10 min + 5 min held): half a password-reset link's life. */
export const OUTBOX_MAX_WAIT_MS = 15 * 60_000;
export const DEAD_LETTER_WINDOW_MS = 24 * 3_600_000;

export const MAIL_METRICS = [
  'mail_sent_total',
  'mail_suppressed_total',
  'mail_outbox_pending',
  'mail_outbox_dead',
  'mail_outbox_oldest_age_seconds',
] as const;

const RUNBOOK = 'runbooks/mail-delivery.md';
const MANUAL_PROOF =
  'request a password reset (POST /v1/auth/password-reset) for a mailbox you control and check that it arrives from MAIL_FROM with a working link; the pod log line "mail sender started" must say "transport":"smtp"';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (`name{a="b",…} value [timestamp]`); comments skipped. */
export function parseSamples(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The metrics body as fetched for metrics.present: absent without --metrics-url, or why it could not be read. */
export type MetricsSeen = { body: string } | { error: string } | undefined;

const hasFamily = (body: string, name: string) => body.split('\n').some((l) => l.startsWith(`# TYPE ${name} `));

/** mail.configured and the metrics-based mail.outbox (which a database check replaces: mailOutboxDatabaseCheck). */
export function mailMetricsChecks(seen: MetricsSeen): CheckResult[] {
  const configured = (status: CheckResult['status'], evidence: string): CheckResult => ({
    id: 'mail.configured',
    title: MAIL_CONFIGURED_TITLE,
    status,
    evidence,
  });
  const outbox = (status: CheckResult['status'], evidence: string): CheckResult => ({
    id: 'mail.outbox',
    title: MAIL_OUTBOX_TITLE,
    status,
    evidence,
  });
  if (seen === undefined) {
    return [
      configured('manual', `pass --metrics-url (the METRICS_PORT listener); or by hand: ${MANUAL_PROOF}`),
      outbox('manual', 'pass --database-url (or DATABASE_URL) of the production database, or at least --metrics-url'),
    ];
  }
  if ('error' in seen) return [configured('failed', seen.error), outbox('failed', seen.error)];

  const missing = MAIL_METRICS.filter((m) => !hasFamily(seen.body, m));
  if (missing.length > 0) {
    const evidence = `GET /metrics → 200, missing: ${missing.join(', ')} (a build without the mail sender?)`;
    return [configured('failed', evidence), outbox('failed', evidence)];
  }
  const samples = parseSamples(seen.body);
  const sum = (name: string, where: (labels: Record<string, string>) => boolean = () => true) =>
    samples.filter((s) => s.name === name && where(s.labels)).reduce((total, s) => total + s.value, 0);
  const sent = sum('mail_sent_total', (l) => l.outcome === 'sent');
  const retried = sum('mail_sent_total', (l) => l.outcome === 'retry');
  const dead = sum('mail_sent_total', (l) => l.outcome === 'dead');
  const tries = `${sent} sent, ${retried} failed and retried, ${dead} dead-lettered by this replica since it started (mail_sent_total)`;
  const results: CheckResult[] = [];
  if (sent > 0) results.push(configured('passed', `${tries}: the relay accepts its mail`));
  else if (retried + dead > 0)
    results.push(configured('failed', `${tries}: every try failed — the relay is unreachable or refuses (${RUNBOOK}, step 4)`));
  else
    results.push(
      configured('manual', `the mail sender runs (mail_* exported) but this replica has sent no mail since it started: ${MANUAL_PROOF}`),
    );

  const oldestSeconds = sum('mail_outbox_oldest_age_seconds');
  const pending = sum('mail_outbox_pending');
  const deadKept = sum('mail_outbox_dead');
  const waiting = `${pending} mail(s) waiting, the oldest ${formatAge(oldestSeconds * 1000)} old (mail_outbox_*)`;
  if (oldestSeconds * 1000 > OUTBOX_MAX_WAIT_MS)
    results.push(outbox('failed', `${waiting}: over ${formatAge(OUTBOX_MAX_WAIT_MS)} — not draining (runbooks/RampartMailOutboxStuck.md)`));
  else if (deadKept > 0)
    results.push(
      outbox(
        'manual',
        `${waiting}; ${deadKept} dead letter(s) in the outbox, of unknown age without the database: pass --database-url to judge the last 24 hours`,
      ),
    );
  else results.push(outbox('passed', `${waiting}; no dead letter in the outbox`));
  return results;
}

/**
 * mail.outbox from the outbox table itself (read-only; the service's own role may read it). It goes
 * after the HTTP checks and replaces their metrics-based mail.outbox: the table knows the dead
 * letters' age. A dead letter's last try is its `next_attempt_at` (the time its final try was due).
 * Dead letters to reserved `.invalid` addresses — the `--signup-probe` account's — are listed, not failed.
 */
export async function mailOutboxDatabaseCheck(db: Database): Promise<CheckResult> {
  const id = 'mail.outbox';
  const title = MAIL_OUTBOX_TITLE;
  try {
    const r = await db.knex.raw(
      `select count(*) filter (where status in ('pending', 'sending'))::int as waiting,
              count(*) filter (where status in ('pending', 'sending') and created_at < now() - make_interval(secs => ?))::int as stale,
              coalesce(extract(epoch from now() - min(created_at) filter (where status in ('pending', 'sending'))), 0)::float8 as oldest_seconds,
              count(*) filter (where status = 'dead' and next_attempt_at > now() - make_interval(secs => ?) and to_address not like '%.invalid')::int as dead_recent,
              count(*) filter (where status = 'dead' and next_attempt_at > now() - make_interval(secs => ?) and to_address like '%.invalid')::int as dead_probe,
              count(*) filter (where status = 'dead')::int as dead_total,
              count(*) filter (where status = 'sent' and sent_at > now() - make_interval(secs => ?))::int as sent_recent
       from mail_outbox`,
      [OUTBOX_MAX_WAIT_MS / 1000, DEAD_LETTER_WINDOW_MS / 1000, DEAD_LETTER_WINDOW_MS / 1000, DEAD_LETTER_WINDOW_MS / 1000],
    );
    const row = r.rows[0] as {
      waiting: number;
      stale: number;
      oldest_seconds: number;
      dead_recent: number;
      dead_probe: number;
      dead_total: number;
      sent_recent: number;
    };
    const day = formatAge(DEAD_LETTER_WINDOW_MS);
    const seen = [
      `${row.waiting} mail(s) waiting, the oldest ${formatAge(row.oldest_seconds * 1000)} old, ${row.stale} over ${formatAge(OUTBOX_MAX_WAIT_MS)}`,
      `${row.dead_recent} dead letter(s) in the last ${day}${row.dead_probe > 0 ? ` (and ${row.dead_probe} to .invalid probe addresses, not counted)` : ''}, ${row.dead_total} kept in all`,
      `${row.sent_recent} sent in the last ${day} (mail_outbox)`,
    ].join('; ');
    const problems = [
      row.stale > 0 && 'mail is not draining (runbooks/RampartMailOutboxStuck.md)',
      row.dead_recent > 0 && 'recent dead letters (runbooks/RampartMailDeadLetters.md)',
    ].filter(Boolean);
    return { id, title, status: problems.length === 0 ? 'passed' : 'failed', evidence: problems.length === 0 ? seen : `${seen} — ${problems.join('; ')}` };
  } catch (err) {
    // knex puts the statement before the server's message: only the latter is evidence.
    const message = (err as Error).message;
    return { id, title, status: 'failed', evidence: `query of mail_outbox failed: ${message.slice(message.lastIndexOf(' - ') + 3)}` };
  }
}
