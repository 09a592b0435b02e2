import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { IdempotencyStore } from '../../platform/idempotency-store.js';
import { deferIdempotency, type IdempotencySettlement, idempotent } from '../../platform/http/idempotency.js';
import { problemBody } from '../../platform/http/problem.js';
import type { Logger } from '../../platform/logger.js';
import { validate } from '../../platform/http/validate.js';
import { codePoints } from '../../platform/text.js';
import { AppError } from '../../platform/errors.js';
import { lastSeq, type ReplyResume, resumeProblem } from './reply-resume.js';
import { type ChatService, type ReplyEvent, toMessage } from './service.js';
import { createSseStream, type SseStream } from './sse.js';


const MAX_CONTENT = 32_000;
/** PostgreSQL text cannot hold U+0000: refuse it as bad input rather than fail at the insert. */
const noNul = (s: string) => !s.includes('\u0000');
const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';
const newConversation = z.strictObject({
  title: z
    .string()
    .trim()
    .min(1)
    .refine((t) => codePoints(t) <= 200, 'must be at most 200 characters')
    .refine(noNul, NUL_MESSAGE)
    .nullish()
    .transform((t) => t ?? null),
});
const newMessage = z.strictObject({
  content: z
    .string()
    .min(1)
    .refine((s) => codePoints(s) <= MAX_CONTENT, `must be at most ${MAX_CONTENT} characters`)
    .refine(noNul, NUL_MESSAGE),
});
const page = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

export interface ChatRoutesDeps {
  chat: ChatService;
  authenticate: Middleware;
  /** Aborted when the process starts shutting down: open streams end with `shutting_down`. */
  shutdownSignal: AbortSignal;
  heartbeatMs: number;
  idempotency: IdempotencyStore;
  logger: Logger;
  resume: ReplyResume;
}

function userId(ctx: Context): string {
  return (ctx.state.auth as { userId: string }).userId;
}

/** Aborted when the client goes away before the response finished. */
function clientGone(ctx: Context): AbortSignal {
  const controller = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * A reply's events as text/event-stream: each event under its own name, an error as the same problem
 * body an HTTP error gets (problemBody: code, request id and extensions alike). Ends the stream.
 * With an Idempotency-Key, a reply that ends `done` is kept before `done` goes out — as the 201
 * `{message, reply}` a JSON request gets (docs/api.md, "Idempotency keys") — and any other end frees
 * the key.
 */
async function sendAsSse(events: AsyncIterable<ReplyEvent>, sse: SseStream, requestId: string, key?: IdempotencySettlement): Promise<void> {
  let message: unknown;
  try {
    for await (const event of events) {
      if (event.type === 'message') {
        message = event.message;
        sse.send('message', event.message, event.id);
      } else if (event.type === 'delta') sse.send('delta', { text: event.text }, event.id);
      else if (event.type === 'done') {
        const body = JSON.stringify({ message, reply: event.message });
        await key?.complete({ status: 201, headers: { 'Content-Type': 'application/json; charset=utf-8' }, body });
        sse.send('done', { message: event.message }, event.id);
      } else sse.send('error', problemBody(event.error, requestId), event.id);
    }
  } finally {
    await key?.release(); // a no-op once completed
    sse.end();
  }
}

/** Thin HTTP wrappers over the chat flows (docs/api.md "Endpoints" and "Streaming a reply"). */
const restarting = () => new AppError('shutting_down', { detail: 'The server is restarting; resume the reply from the last event id.' });

/** Opens a text/event-stream response with its heartbeat; `stop` ends the heartbeat. */
function openSse(ctx: Context, heartbeatMs: number): { sse: SseStream; stop: () => void } {
  const sse = createSseStream();
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('X-Accel-Buffering', 'no'); // no proxy buffering: every delta goes out as it is made
  ctx.body = sse.stream;
  ctx.req.socket.setNoDelay(true);
  const heartbeat = setInterval(() => sse.comment('ping'), heartbeatMs);
  heartbeat.unref();
  return { sse, stop: () => clearInterval(heartbeat) };
}

export function chatRoutes({ chat, authenticate, shutdownSignal, heartbeatMs, idempotency, logger, resume }: ChatRoutesDeps): Router {
  const router = new Router({ prefix: '/v1/conversations' });
  router.use(authenticate);
  const idempotentRoute = (route: string) => idempotent({ store: idempotency, route, userIdOf: userId, logger });

  router.post('/', idempotentRoute('POST /v1/conversations'), async (ctx) => {
    const body = validate(newConversation, ctx.request.body ?? {});
    ctx.status = 201;
    ctx.body = await chat.createConversation(userId(ctx), body.title);
  });
  router.get('/', async (ctx) => {
    const q = validate(page, ctx.query, 'query');
    ctx.body = await chat.listConversations(userId(ctx), q.limit, q.cursor);
  });
  router.get('/:id', async (ctx) => {
    ctx.body = await chat.getConversation(userId(ctx), ctx.params.id ?? '');
  });
  router.delete('/:id', async (ctx) => {
    await chat.deleteConversation(userId(ctx), ctx.params.id ?? '');
    ctx.status = 204;
  });
  router.get('/:id/messages', async (ctx) => {
    const q = validate(page, ctx.query, 'query');
    ctx.body = await chat.listMessages(userId(ctx), ctx.params.id ?? '', q.limit, q.cursor);
  });
  router.post('/:id/messages', idempotentRoute('POST /v1/conversations/{id}/messages'), async (ctx) => {
    const id = ctx.params.id ?? '';
    const { content } = validate(newMessage, ctx.request.body);
    if (ctx.accepts(['application/json', 'text/event-stream']) !== 'text/event-stream') {
      ctx.status = 201;
      ctx.body = await chat.postMessage(userId(ctx), id, content, clientGone(ctx));
      return;
    }
    // 404, 429 too_many_streams and budget_exhausted are answered here, before any model call.
    const opened = await chat.openStream(userId(ctx), id, content);
    const { release } = opened;
    const { sse, stop } = openSse(ctx, heartbeatMs);
    const events = chat.streamReply(opened, content, { clientGone: clientGone(ctx), shutdown: shutdownSignal });
    void sendAsSse(events, sse, String(ctx.state.responseRequestId), deferIdempotency(ctx)).finally(() => {
      stop();
      release();
    });
  });
  // Resuming a reply (docs/api.md "Resuming a reply"): 404 for anything but an assistant message of
  // the caller's conversation, before any byte; then the deltas after Last-Event-ID, live ones, `done`.
  router.get('/:id/messages/:message_id/events', async (ctx) => {
    const conversation = await chat.getConversation(userId(ctx), ctx.params.id ?? '');
    const reply = await resume.findReply(conversation.id, ctx.params.message_id ?? '');
    const after = lastSeq(reply.id, ctx.get('Last-Event-ID') || undefined);
    const { sse, stop } = openSse(ctx, heartbeatMs);
    const gone = clientGone(ctx);
    const ended = AbortSignal.any([gone, shutdownSignal]);
    void (async () => {
      let done = false;
      try {
        for await (const event of resume.follow(reply, after, ended)) {
          if (event.type === 'delta') sse.send('delta', { text: event.text }, event.id);
          else sse.send('done', { message: toMessage(event.message) }, event.id);
          done = event.type === 'done';
        }
        if (!done && shutdownSignal.aborted && !gone.aborted) sse.send('error', problemBody(restarting(), String(ctx.state.responseRequestId)));
      } catch (err) {
        sse.send('error', problemBody(resumeProblem(err), String(ctx.state.responseRequestId)));
      } finally {
        stop();
        sse.end();
      }
    })();
  });
  return router;
}

/** GET /v1/usage: the caller's tokens in the current UTC day and month against their budgets. */
export function usageRoutes({ chat, authenticate }: Pick<ChatRoutesDeps, 'chat' | 'authenticate'>): Router {
  const router = new Router({ prefix: '/v1/usage' });
  router.use(authenticate);
  router.get('/', async (ctx) => {
    ctx.body = await chat.usage(userId(ctx));
  });
  return router;
}
