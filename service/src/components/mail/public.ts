/**
 * The mail component's plain functions, usable without building the component (no sender, no
 * transport): writing a mail into the outbox inside the caller's transaction. The CLI's operator
 * actions (`secops users mfa-reset`) write their notices this way; the running replicas' senders poll
 * the outbox and deliver them. The component (index.ts) enqueues through the same writer.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from '../../platform/db.js';
import type { MailMessage, MailOrigin } from './message.js';
import { createOutboxRepo } from './outbox-repo.js';

export type { MailMessage, MailOrigin } from './message.js';

/** Writes a mail inside a transaction; it goes out only if that commits. */
export interface MailEnqueuer {
  /** `origin`: the request (and account) that caused the mail, for the audit events of its delivery. */
  enqueue(trx: Knex, message: MailMessage, origin?: MailOrigin): Promise<void>;
}

/** `Name <user@example.com>` → `example.com`: the right-hand side of our Message-IDs. */
function senderDomain(from: string): string {
  return /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'rampart.invalid';
}

/** The outbox writer for mail sent as `from` (MAIL_FROM): each mail gets its Message-ID here, once. */
export function createOutboxWriter(from: string): MailEnqueuer {
  const domain = senderDomain(from);
  return {
    enqueue: (trx, message, origin) => createOutboxRepo(trx).insert(trx, message, `<${randomUUID()}@${domain}>`, origin),
  };
}
