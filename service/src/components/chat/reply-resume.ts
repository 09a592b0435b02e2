import { databaseUnavailable, isDatabaseUnavailable } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import { UUID } from '../../platform/text.js';
import type { ReplyBus } from './reply-bus.js';
import type { RepliesRepo, ReplyRow } from './replies-repo.js';
import type { MessageRow } from './repo.js';

/** A resumed reply's events: the deltas after the client's last id, then `done` with the stored reply. */
export type ResumedEvent = { type: 'delta'; id: string; text: string } | { type: 'done'; id: string; message: MessageRow };

/** `<message_id>:<seq>`, the id of every event of a reply stream. */
export const replyEventId = (messageId: string, seq: number) => `${messageId}:${seq}`;

/**
 * The seq a `Last-Event-ID` names for this reply: `<message_id>:<seq>` or a bare seq. Absent, or the
 * id of another reply, or malformed: 0 (the whole reply).
 */
export function lastSeq(messageId: string, lastEventId: string | undefined): number {
  const m = /^(?:([0-9a-f-]{36}):)?(\d{1,9})$/i.exec(lastEventId?.trim() ?? '');
  if (!m || (m[1] !== undefined && m[1].toLowerCase() !== messageId.toLowerCase())) return 0;
  return Number(m[2]);
}

/** What a follow that failed ends with: 503 when the database is away (resume again), else internal_error. */
export function resumeProblem(err: unknown): AppError {
  return isDatabaseUnavailable(err) ? databaseUnavailable(err) : new AppError('internal_error', { cause: err });
}

export interface ReplyResumeDeps {
  repo: RepliesRepo;
  bus: ReplyBus;
  /** How long a follower waits for news before looking anyway (the listening connection may be down). */
  pollMs?: number;
}

/**
 * Resuming a reply stream (docs/api.md "Resuming a reply"): what the client missed, read from
 * reply_events, then the live deltas as the generating replica — this one or another — stores them,
 * then `done` once the row says the reply ended (complete, partial or failed). The row is read before
 * the deltas each round: once it says ended, every delta was stored before, so none is missed, and
 * each is sent once because the seq only moves forward.
 */
export function createReplyResume({ repo, bus, pollMs = 1000 }: ReplyResumeDeps) {
  return {
    /** The reply, if `messageId` is an assistant message of this (already owner-checked) conversation; else 404. */
    async findReply(conversationId: string, messageId: string): Promise<ReplyRow> {
      const reply = UUID.test(messageId) ? await repo.findReply(conversationId, messageId) : undefined;
      if (!reply) throw new AppError('not_found', { detail: 'No such reply.' });
      return reply;
    },

    async *follow(reply: ReplyRow, after: number, signal: AbortSignal): AsyncGenerator<ResumedEvent> {
      const news = bus.subscribe(reply.id);
      let seq = after;
      try {
        for (;;) {
          const row = await repo.findReply(reply.conversation_id, reply.id);
          if (!row) return; // deleted with its conversation meanwhile
          for (const e of await repo.eventsAfter(reply.id, seq)) {
            seq = e.seq;
            yield { type: 'delta', id: replyEventId(reply.id, e.seq), text: e.text };
          }
          if (row.generating_by === null) {
            // The terminal event's id follows the last delta's, as on the stream that generated it.
            yield { type: 'done', id: replyEventId(reply.id, (await repo.lastSeq(reply.id)) + 1), message: stripLease(row) };
            return;
          }
          await news.wait(pollMs, signal);
          if (signal.aborted) return;
        }
      } finally {
        news.close();
      }
    },
  };
}

function stripLease({ generating_by: _g, lease_expires_at: _l, ...message }: ReplyRow): MessageRow {
  return message;
}

export type ReplyResume = ReturnType<typeof createReplyResume>;
