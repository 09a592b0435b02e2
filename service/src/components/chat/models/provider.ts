/**
 * The one interface every model provider implements: given the conversation so far, stream the
 * assistant's reply as text fragments. Aborting `signal` must stop the upstream work promptly
 * (close the HTTP request, stop generating) and end the iteration with an AbortError.
 */
export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

/** What a call cost, as the provider reports it (OpenAI's `usage`). */
export interface ModelUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface StreamOptions {
  /** The output cap, sent upstream as `max_tokens`. */
  maxTokens?: number;
  /** Called once with the upstream's usage when it reports one (before the iteration ends). */
  onUsage?: (usage: ModelUsage) => void;
  /**
   * Called before the first token with the provider and model that will answer — the configured one,
   * or the fallback after the primary failed before its first token (models/fallback.ts).
   */
  onServedBy?: (served: ServedBy) => void;
}

/** Which provider (the `provider` label: builtin, openai, fallback) and model answered a call. */
export interface ServedBy {
  provider: string;
  model: string;
}

export interface ModelProvider {
  /** `builtin` or `openai` — the `provider` label of external_model_latency_seconds. */
  readonly name: string;
  /** The model's name for the usage ledger and model_tokens_total (default: `name`). */
  readonly model?: string;
  stream(turns: readonly ChatTurn[], signal: AbortSignal, options?: StreamOptions): AsyncIterable<string>;
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
