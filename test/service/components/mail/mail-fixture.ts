/**
 * What the mail tests share: the component built as the composition root builds it (settings parsed by
 * loadConfig, so MAIL_URL and MAIL_CA_FILE mean what they mean in production), a manual clock, captured
 * logs, a throwaway database and SMTP server per test (cleaned up in `t.after`), and readers for the
 * outbox and the mail_* metrics.
 */
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { createMailComponent, type MailComponent, type MailMessage } from '../../../../service/src/components/mail/index.js';
import type { MailTransport } from '../../../../service/src/components/mail/transport.js';
import { loadConfig } from '../../../../service/src/config/load.js';
import type { Database } from '../../../../service/src/platform/db.js';
import { createLogger } from '../../../../service/src/platform/logger.js';
import { createMetrics, type Metrics } from '../../../../service/src/platform/metrics.js';
import { type ManualClock, manualClock } from '../../../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../../../helpers/database.js';
import { startSmtpServer, type TestSmtpServer, type TestSmtpServerOptions } from '../../../helpers/smtp-server.js';

export const APP_URL = 'https://app.rampart.test';

/**
 * The outbox stamps `next_attempt_at` and `created_at` with the database's now(); the sender compares
 * them with its clock. Our manual clock therefore starts this far ahead of real time, so a mail written
 * during the test is due at once (and the oldest-age gauge reads about this much before any tick).
 */
export const AHEAD_OF_DB_MS = 60_000;

/** The sender's default lease (sender.ts), which a test moves past to take over a dead sender's claim. */
export const DEFAULT_LEASE_MS = 120_000;

const cleanups = new WeakMap<TestContext, (() => unknown)[]>();

/**
 * Runs `fn` in the test's `t.after`, last registered first (node runs `t.after` hooks in registration
 * order): components close before the database they use is dropped. Every cleanup runs, even after one failed.
 */
export function cleanup(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const registered: (() => unknown)[] = [];
    stack = registered;
    cleanups.set(t, registered);
    t.after(async () => {
      const failures: unknown[] = [];
      for (const step of registered.reverse())
        await Promise.resolve()
          .then(step)
          .catch((err: unknown) => failures.push(err));
      if (failures.length > 0) throw failures[0];
    });
  }
  stack.push(fn);
}

export function mailClock(): ManualClock {
  return manualClock(Date.now() + AHEAD_OF_DB_MS);
}

export interface MailUnderTest {
  readonly mail: MailComponent;
  readonly metrics: Metrics;
  readonly clock: ManualClock;
  /** Log lines written so far, parsed. */
  logs(): Record<string, unknown>[];
}

/** MAIL_URL and MAIL_CA_FILE for `smtp` (`?tls=off` appended when asked). */
export function smtpEnv(smtp: TestSmtpServer, options: { tlsOff?: boolean } = {}): Record<string, string> {
  return { MAIL_URL: options.tlsOff ? `${smtp.mailUrl}?tls=off` : smtp.mailUrl, MAIL_CA_FILE: smtp.caFile };
}

/** A mail component on `db` with the settings `env` (loadConfig, NODE_ENV=test), closed in `t.after`. */
export function startMail(
  t: TestContext,
  options: { db: Database; env: Record<string, string>; clock?: ManualClock; transport?: MailTransport },
): MailUnderTest {
  const { config } = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    MAIL_FROM: 'Rampart <no-reply@rampart.test>',
    ...options.env,
  });
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const metrics = createMetrics({ defaultMetrics: false });
  const clock = options.clock ?? mailClock();
  const mail = createMailComponent({ config, db: options.db, logger, metrics, clock, transport: options.transport });
  cleanup(t, () => mail.close());
  return {
    mail,
    metrics,
    clock,
    logs: () =>
      lines
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A throwaway migrated database, dropped in `t.after`. */
export async function testDatabase(t: TestContext, options: { poolMax?: number } = {}): Promise<TestDatabase> {
  const database = await createTestDatabase({ poolMax: options.poolMax });
  cleanup(t, () => database.drop());
  return database;
}

/** A test SMTP server, closed in `t.after`. */
export async function testSmtp(t: TestContext, options?: TestSmtpServerOptions): Promise<TestSmtpServer> {
  const smtp = await startSmtpServer(options);
  cleanup(t, () => smtp.close());
  return smtp;
}

/** A verification mail as the account flows render one: a link with a one-time token, text and HTML. */
export function verificationMail(to: string, token = `tok-${to.replace(/\W/g, '')}`, template = 'verify_email'): MailMessage {
  const link = `${APP_URL}/verify-email?token=${token}`;
  return {
    template,
    to,
    subject: 'Confirm your email address',
    text: `Confirm your address for Rampart:\n\n${link}\n\nIf you did not sign up, ignore this mail.`,
    html: `<p>Confirm your address for Rampart:</p><p><a href="${link}">Confirm</a></p>`,
  };
}

/** Writes `mails` in one committed transaction, as a flow does. */
export async function enqueueCommitted(db: Database, mail: MailComponent, mails: MailMessage[]): Promise<void> {
  await db.knex.transaction(async (trx) => {
    for (const m of mails) await mail.outbox.enqueue(trx, m);
  });
}

export interface OutboxRecord {
  id: string;
  template: string;
  to_address: string;
  text_body: string | null;
  html_body: string | null;
  message_id: string;
  status: 'pending' | 'sending' | 'sent' | 'dead';
  attempts: number;
  next_attempt_at: Date;
  claim_id: string | null;
  locked_until: Date | null;
  last_error: string | null;
  sent_at: Date | null;
  created_at: Date;
}

export async function outboxRows(db: Database): Promise<OutboxRecord[]> {
  const rows = (await db.knex('mail_outbox').select('*').orderBy('id')) as OutboxRecord[];
  return rows.map((r) => ({
    ...r,
    id: String(r.id),
    next_attempt_at: new Date(r.next_attempt_at),
    created_at: new Date(r.created_at),
  }));
}

/** mail_sent_total for one outcome (and template, when given: else summed over templates). */
export async function sentTotal(metrics: Metrics, outcome: 'sent' | 'retry' | 'dead', template?: string): Promise<number> {
  const { values } = await metrics.mailSentTotal.get();
  return values
    .filter((v) => v.labels.outcome === outcome && (template === undefined || v.labels.template === template))
    .reduce((n, v) => n + v.value, 0);
}

/** The outbox gauges, as the sender last set them. */
export async function outboxGauges(metrics: Metrics): Promise<{ pending: number; dead: number; oldestAgeSeconds: number }> {
  const value = async (g: Metrics['mailOutboxPending']) => (await g.get()).values[0]?.value ?? 0;
  return {
    pending: await value(metrics.mailOutboxPending),
    dead: await value(metrics.mailOutboxDead),
    oldestAgeSeconds: await value(metrics.mailOutboxOldestAge),
  };
}

/** Message-IDs seen more than once. */
export function duplicates(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const id of ids) (seen.has(id) ? twice : seen).add(id);
  return [...twice];
}
