import { EventEmitter } from 'node:events';
import { openSession, type RawSession } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';

/** The one channel every replica listens on; a payload is the id of a reply that has news. */
export const REPLY_CHANNEL = 'rampart_reply_events';

/** Waits for news of one reply. */
export interface ReplySubscription {
  /** Resolves at the next news (or at once if some came since the last wait), after `ms`, or on abort. */
  wait(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

export interface ReplyBus {
  /** Tells every replica's followers of `messageId` to look again (new deltas, or the reply ended). */
  publish(messageId: string): Promise<void>;
  subscribe(messageId: string): ReplySubscription;
  close(): Promise<void>;
}

export interface ReplyBusDeps {
  /**
   * A real PostgreSQL: news travels by LISTEN/NOTIFY between replicas. Undefined (PGlite): in process
   * only. Read at every (re)connection, so the listener follows a reloaded DATABASE_URL (a promoted
   * replica, a rotated password) as the pool does.
   */
  url: string | undefined | (() => string | undefined);
  /** Runs `select pg_notify(channel, payload)` on the pool. */
  notify(channel: string, payload: string): Promise<void>;
  logger: Logger;
  /** Wait before listening again after the listening connection was lost (ms). */
  reconnectMs?: number;
}

/**
 * News of replies across replicas. A notification is only a wake-up: followers read the deltas
 * themselves from reply_events after the seq they reached, so a lost, late or repeated notification
 * can neither lose nor duplicate a delta — and followers also look every `wait(ms)` in case the
 * listening connection was down.
 */
export function createReplyBus(deps: ReplyBusDeps): ReplyBus {
  const local = new EventEmitter();
  local.setMaxListeners(0); // one listener per open follower: bounded by the stream limits
  let session: RawSession | undefined;
  /** The connection string the listening session was opened with. */
  let listeningUrl: string | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const currentUrl = () => (typeof deps.url === 'function' ? deps.url() : deps.url);
  async function listen(): Promise<void> {
    const url = currentUrl();
    if (!url || closed) return;
    try {
      const s = await openSession(url, { applicationName: 'rampart-reply-bus' });
      if (closed) return void (await s.close());
      s.client.on('notification', (n) => {
        if (n.channel === REPLY_CHANNEL && n.payload) local.emit(n.payload);
      });
      s.client.on('error', () => relisten(s));
      s.client.on('end', () => relisten(s));
      await s.client.query(`listen ${REPLY_CHANNEL}`);
      session = s;
      listeningUrl = url;
      // DATABASE_URL was reloaded while this session opened: a publish meanwhile found no session to
      // move, so move it now rather than at the next publish.
      if (currentUrl() !== url) relisten(s);
    } catch (err) {
      deps.logger.warn({ err }, 'reply bus: cannot listen; followers poll until it can');
      schedule();
    }
  }
  function relisten(s: RawSession) {
    if (session !== s || closed) return;
    session = undefined;
    void s.close();
    schedule();
  }
  function schedule() {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void listen();
    }, deps.reconnectMs ?? 1000);
    retry.unref();
  }
  const started = listen();

  return {
    async publish(messageId) {
      const url = currentUrl();
      // DATABASE_URL was reloaded (another server): listen where the pool now notifies.
      if (session && url !== listeningUrl) relisten(session);
      if (url) await deps.notify(REPLY_CHANNEL, messageId);
      else local.emit(messageId);
    },
    subscribe(messageId) {
      let news = false;
      let wake: (() => void) | undefined;
      const onNews = () => {
        news = true;
        wake?.();
      };
      local.on(messageId, onNews);
      return {
        async wait(ms, signal) {
          if (!news && !signal.aborted) {
            await new Promise<void>((resolve) => {
              const done = () => {
                clearTimeout(timer);
                signal.removeEventListener('abort', done);
                wake = undefined;
                resolve();
              };
              const timer = setTimeout(done, ms);
              wake = done;
              signal.addEventListener('abort', done, { once: true });
            });
          }
          news = false;
        },
        close() {
          local.off(messageId, onNews);
        },
      };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      await started;
      await session?.close();
      session = undefined;
    },
  };
}
