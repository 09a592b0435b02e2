import type { SchedulingClock, TimerHandle } from '../../platform/clock.js';
import type { Logger } from '../../platform/logger.js';
import type { AuditEvent } from '../audit/index.js';
import type { Metrics } from '../../platform/metrics.js';
import type { OutboxRepo, OutboxRow } from './outbox-repo.js';
import { MailSendError, type MailTransport } from './transport.js';

export interface MailSenderOptions {
  repo: OutboxRepo;
  transport: MailTransport;
  clock: SchedulingClock;
  logger: Logger;
  metrics: Pick<Metrics, 'mailSentTotal' | 'mailOutboxPending' | 'mailOutboxDead' | 'mailOutboxOldestAge'>;
  from: string;
  /** Sends tried per mail before it is dead-lettered (MAIL_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** How often the outbox is looked at when nobody wakes the sender (ms). */
  pollMs?: number;
  /** Writes the delivery of each mail (sent, dead-lettered) to the audit trail, with the request id that caused it. */
  audit?: (event: AuditEvent) => void;
  /** Sent mails older than this are deleted (MAIL_SENT_RETENTION_DAYS; default 7 days). */
  sentRetentionMs?: number;
  /** Mails claimed at once. */
  batchSize?: number;
  /**
   * How long a claim holds before another sender may take the mail over (ms); renewed as each mail's
   * send begins, so it must outlast one send (not a whole batch).
   */
  leaseMs?: number;
}

/** Sent mails deleted per statement when their retention is over. */
const PURGE_BATCH = 500;

/** The audit event of a mail's delivery: its address only as the trail's keyed hash, never its content. */
function deliveryEvent(type: 'mail_sent' | 'mail_dead_lettered', row: OutboxRow, extra: Record<string, unknown>): AuditEvent {
  return {
    type,
    userId: row.user_id,
    email: row.to_address,
    requestId: row.request_id,
    details: { template: row.template, attempt: row.attempts, message_id: row.message_id, ...extra },
  };
}

/** The wait before try n+1 after n failed tries: 30 s, 1 min, 2 min, … capped at 1 h (full jitter on the top half). */
export function retryDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  const base = Math.min(30_000 * 2 ** Math.max(0, failedAttempts - 1), 3_600_000);
  return Math.round(base / 2 + (base / 2) * random());
}

/**
 * Drains the outbox: claims due mails (any number of replicas may run a sender), sends them one at a
 * time, records the outcome per mail as soon as it is known, and retries failures with backoff until
 * MAIL_MAX_ATTEMPTS, after which a mail is dead-lettered (kept, counted, alerted on).
 *
 * Delivery is at least once. A sender that dies before the server accepted a mail leaves its claim to
 * expire and the mail is sent by the next claim; one that dies in the instant between the server's
 * acceptance and the row's update cannot be told apart from that, and the mail may go out twice — with
 * the same Message-ID, which receiving systems use to drop the copy.
 */
export function createMailSender(options: MailSenderOptions) {
  const { repo, transport, clock, logger, metrics } = options;
  const pollMs = options.pollMs ?? 1000;
  const batchSize = options.batchSize ?? 10;
  const leaseMs = options.leaseMs ?? 120_000;
  let timer: TimerHandle | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;

  async function deliver(row: OutboxRow, claimId: string): Promise<void> {
    // The batch's lease ran from its claim; the mails before this one may have taken most of it, and
    // another sender may have taken this one over since. Renewed now, it holds for this send.
    if (!(await repo.renew(row.id, claimId, new Date(clock.now().getTime() + leaseMs)))) {
      logger.warn({ mail_id: row.id, template: row.template }, 'mail taken over by another sender after this claim expired; left to it');
      return;
    }
    try {
      await transport.send({
        template: row.template,
        to: row.to_address,
        subject: row.subject,
        text: row.text_body,
        html: row.html_body,
        from: options.from,
        messageId: row.message_id,
      });
    } catch (err) {
      const reason = err instanceof MailSendError ? err.message : `ESEND: ${(err as Error).message?.split('\n', 1)[0]?.slice(0, 200)}`;
      const dead = row.attempts >= options.maxAttempts;
      const retryAt = dead ? null : new Date(clock.now().getTime() + retryDelayMs(row.attempts));
      await repo.markFailed(row.id, claimId, reason, retryAt);
      metrics.mailSentTotal.inc({ template: row.template, outcome: dead ? 'dead' : 'retry' });
      if (dead) options.audit?.(deliveryEvent('mail_dead_lettered', row, { error: reason }));
      // `refused`: the server answered 5xx (a bad address, a policy) — retrying rarely helps, and the
      // runbook starts there; 4xx and connection failures are transient. Both are retried (nothing is lost).
      const refused = err instanceof MailSendError && err.permanent;
      logger.warn(
        { mail_id: row.id, template: row.template, attempt: row.attempts, err: reason, refused, retry_at: retryAt?.toISOString() ?? null },
        dead ? 'mail dead-lettered after its last attempt' : 'mail send failed; will retry',
      );
      return;
    }
    metrics.mailSentTotal.inc({ template: row.template, outcome: 'sent' });
    options.audit?.(deliveryEvent('mail_sent', row, {}));
    if (!(await repo.markSent(row.id, claimId, clock.now()))) {
      logger.warn({ mail_id: row.id, template: row.template }, 'mail sent after its claim expired: another sender may send it again');
    }
  }

  async function refreshGauges(): Promise<void> {
    const stats = await repo.stats();
    metrics.mailOutboxPending.set(stats.pending);
    metrics.mailOutboxDead.set(stats.dead);
    metrics.mailOutboxOldestAge.set(stats.oldestCreatedAt ? Math.max(0, (clock.now().getTime() - stats.oldestCreatedAt.getTime()) / 1000) : 0);
  }

  /** One pass: claim and send batches until nothing is due. */
  async function pass(): Promise<void> {
    for (;;) {
      const { claimId, rows } = await repo.claim(clock.now(), leaseMs, batchSize);
      for (const row of rows) await deliver(row, claimId);
      if (rows.length < batchSize) break;
    }
    await refreshGauges();
    await purgeOldSentMail();
  }

  /** At most every 10 minutes, sent mails past their retention go (in batches, so no long statement). */
  let lastPurge = Number.NEGATIVE_INFINITY;
  async function purgeOldSentMail(): Promise<void> {
    const now = clock.now().getTime();
    if (now - lastPurge < 600_000) return;
    lastPurge = now;
    const before = new Date(now - (options.sentRetentionMs ?? 7 * 86_400_000));
    let purged = 0;
    for (;;) {
      const n = await repo.purgeSent(before, PURGE_BATCH);
      purged += n;
      if (n < PURGE_BATCH || purged >= 100_000) break;
    }
    if (purged > 0) logger.info({ purged, before: before.toISOString() }, 'sent mails past their retention deleted from the outbox');
  }

  /** Runs a pass unless one is running (then that one runs once more when done). */
  function run(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await pass();
        } while (again);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'mail outbox pass failed; the next poll tries again');
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = clock
      .setTimeout(() => {
        void run().finally(schedule);
      }, pollMs)
      .unref();
  }

  return {
    start(): void {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    /** A mail was just committed: send it now rather than at the next poll. */
    wake(): void {
      if (!stopped) void run();
    },
    /** Sends everything due now and resolves when done (tests, and a last pass at shutdown). */
    deliverDue(): Promise<void> {
      return run();
    },
    async stop(): Promise<void> {
      stopped = true;
      clock.clear(timer);
      await running;
    },
  };
}

export type MailSender = ReturnType<typeof createMailSender>;
