import { randomUUID } from 'node:crypto';
import type { Knex } from '../../platform/db.js';
import type { MailMessage, MailOrigin } from './message.js';

export interface OutboxRow {
  id: string;
  template: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  message_id: string;
  attempts: number;
  created_at: Date;
  request_id: string | null;
  user_id: string | null;
}

export interface OutboxStats {
  pending: number;
  dead: number;
  oldestCreatedAt: Date | null;
}

/** Data access for the mail outbox (migrations/20261206000100_accounts_and_mail.ts); plain rows in and out. */
export function createOutboxRepo(knex: Knex) {
  return {
    /** Writes a mail to send, inside the caller's transaction: it goes out only if that commits. */
    async insert(trx: Knex, mail: MailMessage, messageId: string, origin: MailOrigin = {}): Promise<void> {
      await trx('mail_outbox').insert({
        request_id: origin.requestId ?? null,
        user_id: origin.userId ?? null,
        template: mail.template,
        to_address: mail.to,
        subject: mail.subject,
        text_body: mail.text,
        html_body: mail.html,
        message_id: messageId,
      });
    },

    /**
     * Claims up to `limit` mails that are due — pending ones whose time has come, and ones another sender
     * claimed but never finished (its lease ran out: it crashed or hung) — for `leaseMs`. SKIP LOCKED lets
     * any number of replicas claim at once without waiting on or taking each other's rows.
     */
    async claim(now: Date, leaseMs: number, limit: number): Promise<{ claimId: string; rows: OutboxRow[] }> {
      const claimId = randomUUID();
      const r = await knex.raw(
        `update mail_outbox set status = 'sending', claim_id = ?, locked_until = ?, attempts = attempts + 1
         where id in (
           select id from mail_outbox
           where (status = 'pending' and next_attempt_at <= ?) or (status = 'sending' and locked_until <= ?)
           order by id
           for update skip locked
           limit ?
         )
         returning id, template, to_address, subject, text_body, html_body, message_id, attempts, created_at, request_id, user_id`,
        [claimId, new Date(now.getTime() + leaseMs), now, now, limit],
      );
      const rows = (r.rows as OutboxRow[]).sort((a, b) => Number(a.id) - Number(b.id));
      return { claimId, rows };
    },

    /**
     * Extends this claim's lease on one mail to `until`, just before it is sent: a batch is claimed at
     * once but sent one mail at a time. false when the claim was lost (it expired and another sender
     * took the mail over): then this sender must not send it.
     */
    async renew(id: string, claimId: string, until: Date): Promise<boolean> {
      const n = await knex('mail_outbox').where({ id, claim_id: claimId, status: 'sending' }).update({ locked_until: until });
      return n === 1;
    },

    /** Sent: the bodies (they hold one-time links) are wiped. false when the claim was lost meanwhile. */
    async markSent(id: string, claimId: string, now: Date): Promise<boolean> {
      const n = await knex('mail_outbox')
        .where({ id, claim_id: claimId, status: 'sending' })
        .update({ status: 'sent', sent_at: now, text_body: null, html_body: null, claim_id: null, locked_until: null, last_error: null });
      return n === 1;
    },

    /** A failed send: tried again at `retryAt`, or dead-lettered (kept, bodies wiped) when `retryAt` is null. */
    async markFailed(id: string, claimId: string, error: string, retryAt: Date | null): Promise<boolean> {
      const update =
        retryAt === null
          ? { status: 'dead', last_error: error, text_body: null, html_body: null, claim_id: null, locked_until: null }
          : { status: 'pending', last_error: error, next_attempt_at: retryAt, claim_id: null, locked_until: null };
      const n = await knex('mail_outbox').where({ id, claim_id: claimId, status: 'sending' }).update(update);
      return n === 1;
    },

    async stats(): Promise<OutboxStats> {
      // Each count reads one partial index (mail_outbox_due_idx, mail_outbox_dead_idx): the sent rows,
      // the bulk of the table, are never scanned.
      const r = await knex.raw(
        `select (select count(*)::int from mail_outbox where status in ('pending', 'sending')) as pending,
                (select min(created_at) from mail_outbox where status in ('pending', 'sending')) as oldest,
                (select count(*)::int from mail_outbox where status = 'dead') as dead`,
      );
      const row = r.rows[0] as { pending: number; dead: number; oldest: Date | null };
      return { pending: row.pending, dead: row.dead, oldestCreatedAt: row.oldest ? new Date(row.oldest) : null };
    },

    /** Deletes up to `limit` sent mails sent before `before` (their bodies are already wiped; this removes the addresses). */
    async purgeSent(before: Date, limit: number): Promise<number> {
      const r = await knex.raw(
        `delete from mail_outbox where id in (
           select id from mail_outbox where status = 'sent' and sent_at < ? order by sent_at limit ?
         )`,
        [before, limit],
      );
      return r.rowCount ?? 0;
    },
  };
}

export type OutboxRepo = ReturnType<typeof createOutboxRepo>;
