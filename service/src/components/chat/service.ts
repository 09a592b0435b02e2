import { SpanStatusCode, trace } from '@opentelemetry/api';
import { databaseUnavailable, isDatabaseUnavailable } from '../../platform/db.js';
import { AppError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import {
  type ChatTurn,
  type ModelObserver,
  type ModelProvider,
  ModelTimeoutError,
  ModelUnavailableError,
  type ModelUsage,
  type ServedBy,
} from './models/provider.js';
import type { CallResult, MeteredCall, ModelMeter } from './model-meter.js';
import { budgetWindows, dayStart, monthStart } from './model-budget.js';
import type { ReplyLog, ReplyTurn } from './reply-log.js';
import { replyEventId } from './reply-resume.js';
import type { ChatRepo, ConversationRow, MessageRow, MessageStatus } from './repo.js';
import type { StreamSlots } from './stream-slots.js';
import { assemblePage, decodeCursor, type Page } from '../../platform/pagination.js';
import { UUID } from '../../platform/text.js';

export interface ConversationView {
  id: string;
  title: string | null;
  created_at: string;
  updated_at: string;
}

export interface MessageView {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  status: MessageStatus;
  created_at: string;
}

export type { Page } from '../../platform/pagination.js';

export interface UsageWindowView {
  used: number;
  /** null: unlimited. */
  limit: number | null;
  resets_at: string;
}

export interface UsageView {
  day: UsageWindowView;
  month: UsageWindowView;
}

/**
 * What a streamed reply is made of, in order: the stored user message, deltas, then done or error.
 * `id` is the SSE event id, `<reply message id>:<seq>` (0 for the user message), the `Last-Event-ID`
 * a client resumes from (reply-resume.ts).
 */
export type ReplyEvent = (
  | { type: 'message'; message: MessageView }
  | { type: 'delta'; text: string }
  | { type: 'done'; message: MessageView }
  | { type: 'error'; error: AppError }
) & { id?: string };

export interface ChatServiceDeps {
  repo: ChatRepo;
  model: ModelProvider;
  observer: ModelObserver;
  slots: StreamSlots;
  /** Creates the reply row leased to this replica with the user's message, and stores its deltas. */
  replies: ReplyLog;
  /** The gate, the budgets and the ledger's figures: every model call goes through it. */
  meter: ModelMeter;
  /** The clock of the budget windows (UTC day and month). */
  now: () => Date;
  logger: Logger;
  /** Messages of history sent to the model with each new one. */
  contextMessages?: number;
  /** A user asked for another user's conversation (answered 404, like a missing one): a security event. */
  onForeignAccess?: (userId: string, conversationId: string) => void;
}

/** A no-op unless the tracing preload registered a tracer provider (platform/tracing.ts). */
const tracer = trace.getTracer('rampart');


const toConversation = (r: ConversationRow): ConversationView => ({
  id: r.id,
  title: r.title,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

export const toMessage = (r: MessageRow): MessageView => ({
  id: r.id,
  role: r.role,
  content: r.content,
  status: r.status,
  created_at: new Date(r.created_at).toISOString(),
});

function notFound(): AppError {
  return new AppError('not_found', { detail: 'No such conversation.' });
}

/** Maps a model failure to the problem the client sees; anything unexpected is a 502 too (never a 500 for an upstream's fault). */
export function modelProblem(err: unknown): AppError {
  if (err instanceof ModelTimeoutError) return new AppError('model_timeout', { detail: 'The model did not answer in time.' });
  return new AppError('model_unavailable', { detail: 'The model is unavailable; try again later.' });
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

/**
 * Conversations, messages and model replies. Owner-scoped throughout: another user's conversation
 * answers exactly like a missing one.
 */
export function createChatService(deps: ChatServiceDeps) {
  const { repo, model, observer, slots, replies, meter, logger } = deps;
  const contextMessages = deps.contextMessages ?? 50;

  async function ownConversation(userId: string, id: string): Promise<ConversationRow> {
    const conversation = UUID.test(id) ? await repo.findConversation(userId, id) : undefined;
    if (!conversation) {
      // Only on this 404 path: one more lookup tells a missing conversation from another user's.
      if (deps.onForeignAccess && UUID.test(id) && (await repo.conversationExists(id))) deps.onForeignAccess(userId, id);
      throw notFound();
    }
    return conversation;
  }

  /**
   * Runs the model over the conversation, calling `onText` per fragment. Resolves with the full
   * text and how it ended; never throws (the caller stores what there is either way).
   */
  async function generate(
    turns: ChatTurn[],
    call: MeteredCall,
    signal: AbortSignal,
    onText: (text: string) => void,
  ): Promise<GenerateResult> {
    return tracer.startActiveSpan('model.stream', { attributes: { 'model.provider': model.name } }, async (span) => {
      const result = await streamModel(turns, call.maxTokens, signal, onText);
      const outcome = result.outcome === 'error' && result.error instanceof ModelTimeoutError ? 'timeout' : result.outcome;
      span.setAttribute('model.outcome', outcome);
      if (result.outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
      return result;
    });
  }

  /** The model call itself, timed for the metrics; traced as `model.stream` by `generate`. */
  async function streamModel(
    turns: ChatTurn[],
    maxTokens: number,
    signal: AbortSignal,
    onText: (text: string) => void,
  ): Promise<GenerateResult> {
    const started = performance.now();
    let text = '';
    let first = true;
    let usage: ModelUsage | undefined;
    // The fallback provider reports when its second endpoint takes the call over (before any token).
    let servedBy: ServedBy = { provider: model.name, model: model.model ?? model.name };
    const latencyMs = () => performance.now() - started;
    const options = { maxTokens, onUsage: (u: ModelUsage) => (usage = u), onServedBy: (s: ServedBy) => (servedBy = s) };
    try {
      for await (const fragment of model.stream(turns, signal, options)) {
        if (first) {
          observer.firstToken(servedBy.provider, (performance.now() - started) / 1000);
          first = false;
        }
        text += fragment;
        onText(fragment);
      }
      observer.finished(servedBy.provider, 'ok', (performance.now() - started) / 1000);
      return { text, outcome: 'ok', usage, servedBy, latencyMs: latencyMs() };
    } catch (err) {
      const seconds = (performance.now() - started) / 1000;
      if (isAbort(err, signal)) {
        observer.finished(servedBy.provider, 'aborted', seconds);
        return { text, outcome: 'aborted', usage, servedBy, latencyMs: latencyMs() };
      }
      observer.finished(servedBy.provider, err instanceof ModelTimeoutError ? 'timeout' : 'error', seconds);
      if (err instanceof ModelUnavailableError || err instanceof ModelTimeoutError) {
        // Safe to log: provider errors carry at most a status or system error code, never bodies or keys.
        logger.warn({ provider: servedBy.provider, reason: err.message }, 'model call failed');
      } else {
        logger.error({ err }, 'model call failed unexpectedly');
      }
      return { text, outcome: 'error', error: err, usage, servedBy, latencyMs: latencyMs() };
    }
  }

  /** The context sent to the model: the latest messages (failed replies left out), then the new one. */
  async function turnsWith(conversationId: string, content: string): Promise<ChatTurn[]> {
    const history = (await repo.recentMessages(conversationId, contextMessages - 1))
      .filter((m) => m.status === 'complete' || m.role === 'user')
      .map((m) => ({ role: m.role, content: m.content }));
    return [...history, { role: 'user', content }];
  }

  /**
   * Stores the assistant's reply as far as it got — complete, partial (some text) or failed (none) —
   * and its usage ledger row in the same transaction, after settling the call's budget reservation.
   */
  async function storeReply(turn: ReplyTurn, result: GenerateResult, call: MeteredCall) {
    const { text, outcome } = result;
    // Aborted (client gone, shutdown) keeps whatever was said; a failure with nothing said is `failed`.
    const status: MessageStatus =
      outcome === 'ok' ? 'complete' : outcome === 'aborted' || text.length > 0 ? 'partial' : 'failed';
    const ledgerOutcome = outcome === 'error' && result.error instanceof ModelTimeoutError ? 'timeout' : outcome;
    const usage = await call.settle({ ...result, outcome: ledgerOutcome });
    return turn.finish(text, status, usage);
  }

  /** The turn's reply ends `failed` if generating it threw (else its lease would be renewed forever). */
  async function generateInto(turn: ReplyTurn, turns: ChatTurn[], call: MeteredCall, signal: AbortSignal, onText: (text: string, seq: number) => void) {
    try {
      return await generate(turns, call, signal, (text) => onText(text, turn.delta(text)));
    } catch (err) {
      await turn.finish('', 'failed').catch(() => undefined);
      throw err;
    }
  }

  return {
    /** GET /v1/usage: settled tokens (the ledger) of the current UTC day and month, the limits in force (null: unlimited). */
    async usage(userId: string): Promise<UsageView> {
      const now = deps.now();
      const w = budgetWindows(now);
      const [dayUsed, monthUsed, limits] = await Promise.all([
        repo.usageSince(userId, dayStart(w)),
        repo.usageSince(userId, monthStart(now)),
        meter.limitsFor(userId),
      ]);
      return {
        day: { used: dayUsed, limit: limits.day || null, resets_at: w.dayResetsAt.toISOString() },
        month: { used: monthUsed, limit: limits.month || null, resets_at: w.monthResetsAt.toISOString() },
      };
    },

    async createConversation(userId: string, title: string | null): Promise<ConversationView> {
      return toConversation(await repo.createConversation(userId, title));
    },

    async listConversations(userId: string, limit: number, cursor?: string): Promise<Page<ConversationView>> {
      const rows = await repo.listConversations(userId, limit + 1, cursor ? decodeCursor(cursor) : undefined);
      return assemblePage(rows, limit, toConversation);
    },

    async getConversation(userId: string, id: string): Promise<ConversationView> {
      return toConversation(await ownConversation(userId, id));
    },

    async deleteConversation(userId: string, id: string): Promise<void> {
      if (!UUID.test(id) || !(await repo.deleteConversation(userId, id))) throw notFound();
    },

    async listMessages(userId: string, id: string, limit: number, cursor?: string): Promise<Page<MessageView>> {
      await ownConversation(userId, id);
      const rows = await repo.listMessages(id, limit + 1, cursor ? decodeCursor(cursor) : undefined);
      return assemblePage(rows, limit, toMessage);
    },

    /** Non-streaming: store the message, wait for the whole reply, store it, answer both. */
    async postMessage(userId: string, id: string, content: string, signal: AbortSignal): Promise<{ message: MessageView; reply: MessageView }> {
      await ownConversation(userId, id);
      const turns = await turnsWith(id, content);
      // 429 too_many_model_calls / budget_exhausted before anything is stored or sent upstream.
      const call = await meter.begin(userId, turns, 'too_many_model_calls');
      // A client that leaves frees its slot at once; the model call is aborted by the same signal.
      const onGone = () => call.releaseSlot();
      signal.addEventListener('abort', onGone, { once: true });
      try {
        const turn = await replies.begin(id, content);
        if (!turn) throw notFound();
        const message = turn.message;
        const result = await generateInto(turn, turns, call, signal, () => undefined);
        const reply = await storeReply(turn, result, call);
        if (result.outcome === 'error') throw modelProblem(result.error);
        if (!reply) throw notFound(); // deleted while the reply was generated
        return { message: toMessage(message), reply: toMessage(reply) };
      } finally {
        signal.removeEventListener('abort', onGone);
        call.end();
      }
    },

    /**
     * Streaming, step one (before any byte is sent): the conversation must be the caller's and a
     * stream slot must be free — else 404 / 429 `too_many_streams`, before the model is called.
     */
    async openStream(userId: string, id: string, content: string): Promise<OpenedStream> {
      await ownConversation(userId, id);
      const turns = await turnsWith(id, content);
      const call = await meter.begin(userId, turns, 'too_many_streams');
      const releaseSlot = slots.acquire(userId);
      if (!releaseSlot) {
        call.end();
        throw new AppError('too_many_streams', {
          detail: 'Too many concurrent streams; wait for one to finish.',
          headers: { 'Retry-After': '1' },
        });
      }
      return {
        id,
        turns,
        call,
        release: () => {
          releaseSlot();
          call.end();
        },
      };
    },

    /**
     * Streaming, step two: the reply as events, in docs/api.md's order — the stored user message, the
     * deltas as the model makes them, then `done` with the stored reply, or `error`. `clientGone` aborts
     * the model call when the client disconnects (what was said is stored as `partial`); `shutdown`
     * ends it with `shutting_down`. Never throws: a failure is the last event. The routes tier turns
     * the events into SSE; the slot is released by the caller.
     */
    streamReply(opened: OpenedStream, content: string, signals: { clientGone: AbortSignal; shutdown: AbortSignal }): AsyncIterable<ReplyEvent> {
      const { id, turns, call } = opened;
      const events = createEventQueue<ReplyEvent>();
      const upstream = new AbortController();
      const abort = () => {
        upstream.abort();
        call.releaseSlot(); // the gate's slot is free at once; the reply is stored as it got
      };
      signals.clientGone.addEventListener('abort', abort, { once: true });
      signals.shutdown.addEventListener('abort', abort, { once: true });
      void (async () => {
        try {
          const turn = await replies.begin(id, content);
          if (!turn) return events.push({ type: 'error', error: notFound() });
          const eventId = (seq: number) => replyEventId(turn.reply.id, seq);
          events.push({ type: 'message', message: toMessage(turn.message), id: eventId(0) });
          if (signals.shutdown.aborted) upstream.abort();
          const result = await generateInto(turn, turns, call, upstream.signal, (text, seq) => events.push({ type: 'delta', text, id: eventId(seq) }));
          const reply = await storeReply(turn, result, call);
          const last = eventId(turn.terminalSeq);
          if (signals.shutdown.aborted)
            events.push({
              type: 'error',
              error: new AppError('shutting_down', { detail: 'The server is restarting; the partial reply was saved.' }),
              id: last,
            });
          else if (result.outcome === 'error') events.push({ type: 'error', error: modelProblem(result.error), id: last });
          else if (!reply) events.push({ type: 'error', error: notFound(), id: last });
          else if (result.outcome === 'ok') events.push({ type: 'done', message: toMessage(reply), id: last });
        } catch (err) {
          if (isDatabaseUnavailable(err)) {
            logger.warn({ err }, 'database unavailable: stream ended with 503');
            events.push({ type: 'error', error: databaseUnavailable(err) });
          } else {
            logger.error({ err }, 'stream failed');
            events.push({ type: 'error', error: new AppError('internal_error') });
          }
        } finally {
          signals.clientGone.removeEventListener('abort', abort);
          signals.shutdown.removeEventListener('abort', abort);
          events.end();
        }
      })();
      return events;
    },
  };
}

export type ChatService = ReturnType<typeof createChatService>;

type GenerateResult = Omit<CallResult, 'outcome'> & { outcome: 'ok' | 'aborted' | 'error'; error?: unknown };

/** A stream that passed the gate and the budget (openStream), ready for streamReply. */
export interface OpenedStream {
  readonly id: string;
  readonly turns: ChatTurn[];
  readonly call: MeteredCall;
  /** Frees the stream slot and ends the model call's metering (after the last event). */
  release(): void;
}

/**
 * An async iterable fed by `push` — the bridge from the model's callbacks to the events a caller
 * iterates. Unbounded: a consumer that stops reading (a closed client) drops nothing the domain needs,
 * since every event is also stored or logged.
 */
function createEventQueue<T>(): AsyncIterable<T> & { push(event: T): void; end(): void } {
  const queued: T[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  return {
    push(event) {
      queued.push(event);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queued.length > 0) yield queued.shift() as T;
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}
