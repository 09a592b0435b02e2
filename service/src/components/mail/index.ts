/**
 * The mail component's entry point: the transactional outbox (a flow writes its mail in the same
 * transaction as the change that causes it) and the sender that drains it to SMTP — or, in development
 * without MAIL_URL, to the log and DATA_DIR/mail/. Nothing else in the service talks to a mail server.
 */
import type { Config } from '../../config/load.js';
import type { SchedulingClock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { Metrics } from '../../platform/metrics.js';
import type { AuditLog } from '../audit/index.js';
import { createOutboxRepo } from './outbox-repo.js';
import { createOutboxWriter, type MailEnqueuer } from './public.js';
import { createMailSender, type MailSender } from './sender.js';
import { createDevelopmentTransport, createSmtpTransport, type MailTransport } from './transport.js';

export type { MailMessage, MailOrigin } from './message.js';
export type { MailEnqueuer } from './public.js';
export { retryDelayMs } from './sender.js';

/** What a flow uses: write a mail inside its transaction, then wake the sender once that committed. */
export interface MailOutbox extends MailEnqueuer {
  wake(): void;
}

export interface MailComponent {
  readonly outbox: MailOutbox;
  readonly sender: MailSender;
  readonly transportKind: MailTransport['kind'];
  /** Starts the sender's polling loop (the composition root does, once the app is built). */
  start(): void;
  close(): Promise<void>;
}

export interface MailComponentDeps {
  config: Pick<Config, 'mail'>;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  clock: SchedulingClock;
  /** Replaces the configured transport (tests of failure modes). */
  transport?: MailTransport;
  /** The audit trail: each mail's delivery is recorded with the request id that caused it. */
  audit?: Pick<AuditLog, 'record'>;
  /** Outbox poll interval (ms). */
  pollMs?: number;
}

export function createMailComponent(deps: MailComponentDeps): MailComponent {
  const { config, logger } = deps;
  const transport =
    deps.transport ??
    (config.mail.url
      ? createSmtpTransport({ url: config.mail.url.reveal(), caFile: config.mail.caFile })
      : createDevelopmentTransport(config.mail.devDir, logger));
  const repo = createOutboxRepo(deps.db.knex);
  const sender = createMailSender({
    repo,
    transport,
    clock: deps.clock,
    logger,
    metrics: deps.metrics,
    from: config.mail.from,
    maxAttempts: config.mail.maxAttempts,
    sentRetentionMs: config.mail.sentRetentionDays * 86_400_000,
    pollMs: deps.pollMs,
    audit: deps.audit ? (event) => void deps.audit?.record(event) : undefined,
  });
  const writer = createOutboxWriter(config.mail.from);
  return {
    outbox: {
      enqueue: writer.enqueue,
      wake: () => sender.wake(),
    },
    sender,
    transportKind: transport.kind,
    start: () => sender.start(),
    async close() {
      await sender.stop();
      transport.close();
    },
  };
}
