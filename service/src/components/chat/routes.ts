import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { problemBody } from '../../platform/http/problem.js';
import { validate } from '../../platform/http/validate.js';
import { codePoints } from '../../platform/text.js';
import type { ChatService, ReplyEvent } from './service.js';
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
 */
async function sendAsSse(events: AsyncIterable<ReplyEvent>, sse: SseStream, requestId: string): Promise<void> {
  try {
    for await (const event of events) {
      if (event.type === 'message') sse.send('message', event.message);
      else if (event.type === 'delta') sse.send('delta', { text: event.text });
      else if (event.type === 'done') sse.send('done', { message: event.message });
      else sse.send('error', problemBody(event.error, requestId));
    }
  } finally {
    sse.end();
  }
}

/** Thin HTTP wrappers over the chat flows (docs/api.md "Endpoints" and "Streaming a reply"). */
export function chatRoutes({ chat, authenticate, shutdownSignal, heartbeatMs }: ChatRoutesDeps): Router {
  const router = new Router({ prefix: '/v1/conversations' });
  router.use(authenticate);

  router.post('/', async (ctx) => {
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
  router.post('/:id/messages', async (ctx) => {
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
    const sse = createSseStream();
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('X-Accel-Buffering', 'no'); // no proxy buffering: every delta goes out as it is made
    ctx.body = sse.stream;
    ctx.req.socket.setNoDelay(true);
    const heartbeat = setInterval(() => sse.comment('ping'), heartbeatMs);
    heartbeat.unref();
    const events = chat.streamReply(opened, content, { clientGone: clientGone(ctx), shutdown: shutdownSignal });
    void sendAsSse(events, sse, String(ctx.state.requestId)).finally(() => {
      clearInterval(heartbeat);
      release();
    });
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
