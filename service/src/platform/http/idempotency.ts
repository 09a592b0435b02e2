import { createHash } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { AppError, isAppError } from '../errors.js';
import type { IdempotencyStore, KeyScope, StoredAnswer } from '../idempotency-store.js';
import type { Logger } from '../logger.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_MEDIA_TYPE, problemBody } from './problem.js';

/**
 * `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header) on one route, after
 * authentication: keys are the user's own and the route's. The first request with a key runs and its
 * answer is kept (idempotency-store.ts); a retry with the same method, path and body gets that answer
 * again with `Idempotency-Replayed: true`, without running the handler; another request under the same
 * key is 422 `idempotency_key_mismatch`; one while the first still runs is 409 `idempotency_key_in_use`.
 * A first request that ends in a 5xx, a 429 (it asks for a retry) or with the client gone frees the
 * key; other 4xx answers are kept like successes (the draft: the same request would fail the same way).
 * A route whose answer is a stream settles the key itself when the stream ends (`deferIdempotency`).
 */
export interface IdempotencyOptions {
  store: IdempotencyStore;
  /** The route's name in the key's scope (the method and path template). */
  route: string;
  userIdOf: (ctx: Context) => string;
  logger: Logger;
}

/** What a route with a streamed answer calls when the stream ends (exactly one of them). */
export interface IdempotencySettlement {
  /** Never rejects: a failure is logged. Only the first call of either counts. */
  complete(answer: StoredAnswer): Promise<void>;
  release(): Promise<void>;
}

const HEADER = 'idempotency-key';
/** 1–255 printable ASCII characters (space included). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;
/** Response headers that belong to the answer and are replayed with it. */
const KEPT_HEADERS = ['Content-Type', 'Location'] as const;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Text written as is between the values canonicalJson walks. */
class Punctuation {
  constructor(readonly text: string) {}
}

/**
 * JSON with object keys sorted at every level: the same body however its members were ordered. Walks
 * with its own stack, not recursion: a body may nest as deep as its size allows.
 */
function canonicalJson(root: unknown): string {
  const out: string[] = [];
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const item = pending.pop();
    if (item instanceof Punctuation) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      out.push('[');
      pending.push(new Punctuation(']'));
      for (let i = item.length - 1; i >= 0; i--) {
        pending.push(item[i]);
        if (i > 0) pending.push(new Punctuation(','));
      }
    } else if (item !== null && typeof item === 'object') {
      const keys = Object.keys(item).sort();
      out.push('{');
      pending.push(new Punctuation('}'));
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        pending.push((item as Record<string, unknown>)[key], new Punctuation(`${JSON.stringify(key)}:`));
        if (i > 0) pending.push(new Punctuation(','));
      }
    } else {
      out.push(JSON.stringify(item) ?? 'null');
    }
  }
  return out.join('');
}

/** Whether an answer with this status is kept for retries: 4xx are final, except 429 (retry later). */
const kept = (status: number) => status < 500 && status !== 429;

export function idempotent(options: IdempotencyOptions): Middleware {
  const { store, route, logger } = options;
  return async (ctx, next) => {
    const key = ctx.request.headers[HEADER];
    if (key === undefined) return next();
    if (typeof key !== 'string' || !VALID_KEY.test(key)) {
      throw new AppError('validation_failed', {
        detail: 'The Idempotency-Key header is not valid.',
        extensions: { errors: [{ field: 'Idempotency-Key', message: 'must be 1–255 printable ASCII characters' }] },
      });
    }
    const scope: KeyScope = { userId: options.userIdOf(ctx), route, keyHash: sha256(key) };
    const requestHash = sha256(`${ctx.method}\n${ctx.path}\n${canonicalJson(ctx.request.body)}`);
    const claim = await store.claim(scope, requestHash);
    if (claim.kind !== 'claimed' && !claim.sameRequest) {
      throw new AppError('idempotency_key_mismatch', { detail: 'This Idempotency-Key was used with a different request.' });
    }
    if (claim.kind === 'in_progress') {
      throw new AppError('idempotency_key_in_use', {
        detail: 'A request with this Idempotency-Key is still being processed.',
        headers: { 'Retry-After': '1' },
      });
    }
    if (claim.kind === 'done') return replay(ctx, claim.answer);

    const settle = settlement(store, scope, claim.claimedAt, logger);
    let clientGone = false;
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) clientGone = true;
    });
    let deferred = false;
    ctx.state.idempotency = {
      defer: () => {
        deferred = true;
        return settle;
      },
    };
    try {
      await next();
    } catch (err) {
      if (isAppError(err) && kept(err.status)) {
        await settle.complete({
          status: err.status,
          headers: { ...err.headers, 'Content-Type': PROBLEM_CONTENT_TYPE },
          body: JSON.stringify(problemBody(err, String(ctx.state.responseRequestId ?? ''))),
        });
      } else {
        await settle.release();
      }
      throw err;
    }
    if (deferred) return;
    const body: unknown = ctx.body;
    const storable = typeof body === 'string' || Buffer.isBuffer(body) || (body !== null && typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe !== 'function');
    if (clientGone || !kept(ctx.status) || !storable) return void (await settle.release());
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = ctx.response.get(name);
      if (value) headers[name] = value;
    }
    const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : JSON.stringify(body);
    await settle.complete({ status: ctx.status, headers, body: text });
  };
}

/**
 * For a route whose answer is a stream: takes over settling the request's key (undefined when the
 * request has none), to be completed or released when the stream ends.
 */
export function deferIdempotency(ctx: Context): IdempotencySettlement | undefined {
  return (ctx.state.idempotency as { defer(): IdempotencySettlement } | undefined)?.defer();
}

/** The stored answer again. A problem body carries this request's id (each answer's is its own). */
function replay(ctx: Context, answer: StoredAnswer): void {
  ctx.status = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
  ctx.set('Idempotency-Replayed', 'true');
  if ((answer.headers['Content-Type'] ?? '').startsWith(PROBLEM_MEDIA_TYPE)) { // answers stored before the charset was added too
    ctx.body = { ...(JSON.parse(answer.body) as Record<string, unknown>), request_id: String(ctx.state.responseRequestId ?? '') };
    ctx.type = PROBLEM_CONTENT_TYPE;
  } else {
    ctx.body = answer.body;
  }
}

/**
 * Completing or releasing a key never changes the answer the client gets: a failure is logged, and the
 * key then stays claimed until its lease ends (retries meanwhile get 409).
 */
function settlement(store: IdempotencyStore, scope: KeyScope, claimedAt: Date, logger: Logger): IdempotencySettlement {
  let settled = false;
  const once = async (what: string, work: () => Promise<void>): Promise<void> => {
    if (settled) return;
    settled = true;
    await work().catch((err: unknown) => logger.warn({ err: (err as Error).message, route: scope.route }, `idempotency key could not be ${what}`));
  };
  return {
    complete: (answer) => once('stored', () => store.complete(scope, claimedAt, answer)),
    release: () => once('released', () => store.release(scope, claimedAt)),
  };
}
