import type { SchedulingClock, TimerHandle } from '../../platform/clock.js';
import type { Logger } from '../../platform/logger.js';
import type { ReplyBus } from './reply-bus.js';
import type { RepliesRepo, ReplyEventRow } from './replies-repo.js';
import type { ReplyUsage } from './replies-repo.js';
import type { MessageRow, MessageStatus } from './repo.js';

/** One reply being generated here: its deltas are numbered and stored as they come. */
export interface ReplyTurn {
  readonly message: MessageRow;
  readonly reply: MessageRow;
  /** Records a delta; answers its seq (1, 2, …), the event id's number. */
  delta(text: string): number;
  /** The seq the terminal event (`done` or `error`) gets: one after the last delta. */
  readonly terminalSeq: number;
  /** Stores the rest of the deltas, then the reply itself, and drops the lease. */
  /** The reply as it ended; with `usage`, its model_usage ledger row in the same transaction. */
  finish(content: string, status: MessageStatus, usage?: ReplyUsage): Promise<MessageRow | undefined>;
}

export interface ReplyLogDeps {
  repo: RepliesRepo;
  bus: ReplyBus;
  clock: SchedulingClock;
  /** This replica's id, written as the replies' owner. */
  instanceId: string;
  leaseMs: number;
  logger: Logger;
}

/**
 * Replies as they are generated on this replica: the row created leased with the user's message, the
 * deltas appended to reply_events in small batches (whatever came while the previous insert ran: one
 * insert per round trip, never one per delta), followers told after each batch, and every lease held
 * here renewed in one statement every third of its length.
 */
export function createReplyLog(deps: ReplyLogDeps) {
  const { repo, bus, clock, instanceId, leaseMs, logger } = deps;
  const held = new Set<string>();
  const leaseUntil = () => new Date(clock.now().getTime() + leaseMs);
  // The renewal in flight, so close() can wait for it: a write landing after close would extend a
  // lease this replica no longer renews.
  let renewing: Promise<void> | undefined;
  let renewal: TimerHandle | undefined = clock
    .setInterval(() => {
      if (held.size === 0 || renewing) return;
      renewing = repo
        .renewLeases(instanceId, [...held], leaseUntil())
        .then(() => undefined)
        .catch((err: unknown) => logger.warn({ err }, 'reply leases not renewed'))
        .finally(() => {
          renewing = undefined;
        });
    }, Math.max(1, Math.floor(leaseMs / 3)))
    .unref();

  return {
    /** undefined when the conversation no longer exists. */
    async begin(conversationId: string, content: string): Promise<ReplyTurn | undefined> {
      const turn = await repo.beginTurn(conversationId, content, instanceId, leaseUntil());
      if (!turn) return undefined;
      const id = turn.reply.id;
      held.add(id);
      let seq = 0;
      let pending: ReplyEventRow[] = [];
      let writing: Promise<void> | undefined;
      const flush = async (): Promise<void> => {
        while (pending.length > 0) {
          const batch = pending;
          pending = [];
          try {
            await repo.appendEvents(id, batch);
          } catch (err) {
            pending = [...batch, ...pending]; // kept in order for the next attempt
            throw err;
          }
          await bus.publish(id).catch((err: unknown) => logger.warn({ err }, 'reply news not published'));
        }
      };
      const startWriting = () => {
        writing ??= flush()
          .catch((err: unknown) => logger.warn({ err, messageId: id }, 'reply deltas not stored yet'))
          .finally(() => {
            writing = undefined;
          });
      };
      return {
        message: turn.message,
        reply: turn.reply,
        delta(text) {
          seq += 1;
          pending.push({ seq, text });
          startWriting();
          return seq;
        },
        get terminalSeq() {
          return seq + 1;
        },
        async finish(content, status, usage) {
          try {
            while (writing) await writing;
            await flush(); // what a failed batch left behind: one more try, or the row below says it all
          } catch (err) {
            logger.warn({ err, messageId: id }, 'reply deltas not stored: a resume gets the stored reply');
          }
          try {
            return await repo.finishReply(id, instanceId, content, status, usage);
          } finally {
            held.delete(id);
            await bus.publish(id).catch((err: unknown) => logger.warn({ err }, 'reply news not published'));
          }
        },
      };
    },
    /** Stops renewing (shutdown: the replies still open are finished by their streams first). */
    async close() {
      clock.clear(renewal);
      renewal = undefined;
      await renewing;
    },
  };
}

export type ReplyLog = ReturnType<typeof createReplyLog>;

export interface OrphanSweeperDeps {
  repo: RepliesRepo;
  bus: ReplyBus;
  clock: SchedulingClock;
  intervalMs: number;
  logger: Logger;
}

/**
 * Fails the replies whose replica died: their lease expired unrenewed. The reply keeps what its deltas
 * said; followers are told, so they end with it. A live replica renews every third of the lease, so
 * it is never swept while it still writes.
 */
export function createOrphanSweeper(deps: OrphanSweeperDeps) {
  const { repo, bus, clock, logger } = deps;
  async function sweep(): Promise<string[]> {
    const ids = await repo.failExpired(clock.now());
    if (ids.length > 0) logger.warn({ messageIds: ids }, 'orphaned replies failed: their replica stopped renewing the lease');
    await Promise.all(ids.map((id) => bus.publish(id).catch(() => undefined)));
    return ids;
  }
  let running = false;
  let timer: TimerHandle | undefined = clock
    .setInterval(() => {
      if (running) return;
      running = true;
      sweep()
        .catch((err: unknown) => logger.warn({ err }, 'orphan sweep failed'))
        .finally(() => {
          running = false;
        });
    }, deps.intervalMs)
    .unref();
  return {
    sweep,
    close() {
      clock.clear(timer);
      timer = undefined;
    },
  };
}

export type OrphanSweeper = ReturnType<typeof createOrphanSweeper>;

/** Rows deleted per statement by the purge of finished replies' deltas. */
const PURGE_BATCH = 5000;

/**
 * Deletes the deltas of finished replies stored before `before` (REPLY_EVENTS_RETENTION_SECONDS),
 * batch after batch; answers how many. A reply still being generated keeps every delta.
 */
export async function purgeFinishedReplyEvents(repo: Pick<RepliesRepo, 'purgeFinishedEvents'>, before: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await repo.purgeFinishedEvents(before, PURGE_BATCH);
    total += n;
    if (n < PURGE_BATCH) return total;
  }
}
