/**
 * The one interface every model provider implements: given the conversation so far, stream the
 * assistant's reply as text fragments. Aborting `signal` must stop the upstream work promptly
 * (close the HTTP request, stop generating) and end the iteration with an AbortError.
 */
export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface ModelProvider {
  /** `builtin` or `openai` — the `provider` label of external_model_latency_seconds. */
  readonly name: string;
  stream(turns: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<string>;
}

/** Upstream refused, failed, sent garbage, or the circuit is open → 502 `model_unavailable`. */
export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
  readonly code = 'model_unavailable' as const;
}

/** Upstream did not answer (first byte) or finish in time → 504 `model_timeout`. */
export class ModelTimeoutError extends Error {
  override name = 'ModelTimeoutError';
  readonly code = 'model_timeout' as const;
}

/** Observes each call for external_model_latency_seconds (time to first token and total). */
export interface ModelObserver {
  firstToken(provider: string, seconds: number): void;
  finished(provider: string, outcome: 'ok' | 'error' | 'timeout' | 'aborted', seconds: number): void;
}
