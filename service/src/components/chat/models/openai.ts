import type { Secret } from '../../../config/secret.js';
import { sleep } from './abortable-sleep.js';
import { type BreakerPermit, type CircuitBreaker, createCircuitBreaker } from './circuit-breaker.js';
import { type ChatTurn, type ModelProvider, ModelTimeoutError, ModelUnavailableError, type ModelUsage, type StreamOptions } from './provider.js';
import { createSseDecoder } from '../../../platform/sse-decoder.js';

export interface OpenAiModelOptions {
  /**
   * The server root, e.g. `https://api.openai.com` or `http://localhost:11434`; a trailing `/v1`
   * (the form most providers document) is accepted too. Either way requests go to
   * `<root>/v1/chat/completions`.
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; revealed only where that header is built. */
  apiKey?: Secret<string>;
  /** The `model` field of each request. */
  model: string;
  /** The `provider` label of its metrics and ledger rows (default `openai`; the MODEL_FALLBACK_* one is `fallback`). */
  name?: string;
  /** Bounds the whole call: connecting, the first token and the last one. */
  timeoutMs: number;
  /** Response headers must arrive within this (default min(10 s, timeoutMs)). */
  connectTimeoutMs?: number;
  /** Default: a breaker with its defaults (5 consecutive failures, 30 s open). */
  breaker?: CircuitBreaker;
  /** Pause before the single retry of a failed connection (default 200 ms). */
  retryDelayMs?: number;
  /** Default: Node's global fetch. */
  fetch?: typeof fetch;
}

/** `${root}/v1/chat/completions` for a base URL given with or without its `/v1`. */
export function chatCompletionsUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError('the model base URL is not a valid URL'); // the input is not echoed: it may hold a token
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('the model base URL must be http(s)');
  if (url.username || url.password) throw new TypeError('the model base URL must not contain credentials; set MODEL_API_KEY');
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/chat/completions`;
  return url.href;
}

/** 429 and 5xx mean the upstream is struggling; other refusals (400, 401, 404) mean it answered. */
const countsAsFailure = (status: number) => status === 429 || status >= 500;

/**
 * `message (CODE)` with the system error code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET…) found in
 * fetch's cause chain. Only the code: undici's own messages can contain the URL.
 */
function withNetworkCode(message: string, err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return `${message} (${code})`;
  }
  return message;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const tokenCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The chunk's `usage` (sent last when asked with stream_options.include_usage), when well-formed. */
function usageOf(chunk: Record<string, unknown>): ModelUsage | undefined {
  const usage = chunk.usage;
  if (!isRecord(usage) || !tokenCount(usage.prompt_tokens) || !tokenCount(usage.completion_tokens)) return undefined;
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
}

/** One `chat.completion.chunk`: its text (maybe empty), whether it carries a finish_reason, its usage if any. */
function parseChunk(data: string): { text: string; finished: boolean; usage?: ModelUsage } {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new ModelUnavailableError('model stream is not valid JSON');
  }
  if (!isRecord(chunk) || !Array.isArray(chunk.choices)) throw new ModelUnavailableError('model stream chunk has no choices');
  const usage = usageOf(chunk);
  const choice: unknown = chunk.choices[0];
  if (choice === undefined) return { text: '', finished: false, usage }; // e.g. the usage-only chunk
  if (!isRecord(choice)) throw new ModelUnavailableError('model stream chunk is malformed');
  const content = isRecord(choice.delta) ? choice.delta.content : undefined;
  if (content !== undefined && content !== null && typeof content !== 'string')
    throw new ModelUnavailableError('model stream chunk is malformed');
  return { text: content ?? '', finished: typeof choice.finish_reason === 'string', usage };
}

/** Yields each non-empty `choices[0].delta.content` until `data: [DONE]`; hands any `usage` to `onUsage`. */
async function* readContent(body: ReadableStream<Uint8Array>, onUsage?: (usage: ModelUsage) => void): AsyncGenerator<string> {
  const decoder = createSseDecoder();
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      for (const data of done ? decoder.end() : decoder.push(value)) {
        if (data === '[DONE]') return;
        const chunk = parseChunk(data);
        finished ||= chunk.finished;
        if (chunk.usage) onUsage?.(chunk.usage);
        if (chunk.text !== '') yield chunk.text;
      }
      if (done) {
        // Tolerate servers that omit [DONE] after a finish_reason; a stream cut short is a failure.
        if (finished) return;
        throw new ModelUnavailableError('model stream ended before the reply was complete');
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/**
 * A client for any OpenAI-compatible chat-completions endpoint, streaming (`stream: true`).
 *
 * Errors: ModelTimeoutError when headers do not come within `connectTimeoutMs` or the reply is not
 * finished within `timeoutMs`; ModelUnavailableError for everything else the upstream does wrong,
 * and with the message `circuit open` when the breaker refuses the call without touching the
 * network. Messages carry at most an HTTP status or a system error code: never an upstream body, the
 * URL or the key. A connection that fails before any response is retried once; nothing is retried
 * once a response has started. Aborting the caller's signal closes the upstream request and ends the
 * iteration with the signal's reason; an abort is never counted against the upstream.
 */
export function createOpenAiModel(options: OpenAiModelOptions): ModelProvider {
  const url = chatCompletionsUrl(options.baseUrl);
  const { apiKey, model, timeoutMs } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(10_000, timeoutMs);
  const retryDelayMs = options.retryDelayMs ?? 200;
  const breaker = options.breaker ?? createCircuitBreaker();
  const fetchImpl = options.fetch ?? fetch;

  function headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (apiKey) h.authorization = `Bearer ${apiKey.reveal()}`;
    return h;
  }

  /** The upstream request's lifetime: its own abort controller, tied to the caller's signal and the deadline. */
  function startCall(callerSignal: AbortSignal, permit: BreakerPermit) {
    const controller = new AbortController();
    let timeoutMessage: string | undefined;
    // Settle the permit here, not only when the generator resumes: a consumer that stops pulling
    // must not hold the half-open probe slot forever.
    const timeOut = (message: string) => {
      if (controller.signal.aborted) return;
      timeoutMessage = message;
      permit.failure();
      controller.abort(new ModelTimeoutError(message));
    };
    const onCallerAbort = () => {
      permit.release();
      controller.abort(callerSignal.reason);
    };
    callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    const deadline = setTimeout(() => timeOut(`model did not finish within ${timeoutMs} ms`), timeoutMs);
    return {
      signal: controller.signal,
      timeOut,
      get timeoutMessage() {
        return timeoutMessage;
      },
      end() {
        clearTimeout(deadline);
        callerSignal.removeEventListener('abort', onCallerAbort);
        controller.abort();
        permit.release();
      },
    };
  }
  type Call = ReturnType<typeof startCall>;

  /** fetch until response headers arrive; one retry, after a pause, if the connection failed. */
  async function connect(call: Call, body: string): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const headersTimer = setTimeout(
        () => call.timeOut(`model sent no response within ${connectTimeoutMs} ms`),
        connectTimeoutMs,
      );
      try {
        return await fetchImpl(url, { method: 'POST', headers: headers(), body, signal: call.signal, redirect: 'manual' });
      } catch (err) {
        if (call.signal.aborted) throw err;
        if (attempt > 1) throw new ModelUnavailableError(withNetworkCode('model upstream unreachable', err));
      } finally {
        clearTimeout(headersTimer);
      }
      await sleep(retryDelayMs, call.signal);
    }
  }

  async function* streamReply(turns: readonly ChatTurn[], callerSignal: AbortSignal, options: StreamOptions = {}): AsyncGenerator<string> {
    callerSignal.throwIfAborted();
    const permit = breaker.tryAcquire();
    if (!permit) throw new ModelUnavailableError('circuit open');
    const call = startCall(callerSignal, permit);
    try {
      // include_usage: without it a streamed call reports no tokens at all (litellm PR #36943).
      const body = JSON.stringify({
        model,
        messages: turns.map(({ role, content }) => ({ role, content })),
        stream: true,
        stream_options: { include_usage: true },
        ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
      });
      const response = await connect(call, body);
      if (response.status < 200 || response.status > 299 || !response.body) {
        response.body?.cancel().catch(() => undefined); // the body is never read: it may echo secrets
        if (countsAsFailure(response.status)) permit.failure();
        else permit.success();
        throw new ModelUnavailableError(`model upstream answered HTTP ${response.status}`);
      }
      yield* readContent(response.body, options.onUsage);
      permit.success();
    } catch (err) {
      if (callerSignal.aborted) throw callerSignal.reason;
      permit.failure(); // no-op when already settled (timeout, or a 4xx that counted as an answer)
      if (call.timeoutMessage !== undefined) throw new ModelTimeoutError(call.timeoutMessage);
      if (err instanceof ModelUnavailableError) throw err;
      throw new ModelUnavailableError(withNetworkCode('model stream was interrupted', err));
    } finally {
      call.end();
    }
  }

  return {
    name: options.name ?? 'openai',
    model,
    stream: (turns, signal, streamOptions) => streamReply(turns, signal, streamOptions),
  };
}
