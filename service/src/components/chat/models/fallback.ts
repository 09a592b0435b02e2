import { type ChatTurn, type ModelProvider, ModelTimeoutError, ModelUnavailableError, type StreamOptions } from './provider.js';

/** Why the fallback took a call: the primary refused/failed (`unavailable`) or did not answer in time (`timeout`). */
export type FallbackReason = 'unavailable' | 'timeout';

export interface FallbackModelOptions {
  primary: ModelProvider;
  /** The second OpenAI-compatible endpoint (MODEL_FALLBACK_*); its `name` labels what it served. */
  fallback: ModelProvider;
  /**
   * Called once per call the fallback takes over, with how long the primary took to fail (its
   * latency metric and model_fallbacks_total; the reason is safe to log: a status or error code).
   */
  onFallback?: (reason: FallbackReason, primaryError: Error, seconds: number) => void;
}

/**
 * A provider that tries `primary` and, when it fails **before its first token** — refused (any HTTP
 * error, the connection, an open circuit) or timed out — streams the same turns from `fallback`
 * instead. Once the primary has produced a token nothing is retried: the client has seen its words,
 * and a second model's would not continue them. A call the caller aborted is never retried. When
 * the fallback fails too, its error is the call's.
 *
 * The provider that actually answered is reported through `StreamOptions.onServedBy` before its
 * first token, so the usage ledger and the metrics carry its name and model.
 */
export function createFallbackModel(options: FallbackModelOptions): ModelProvider {
  const { primary, fallback } = options;

  async function* stream(
    turns: readonly ChatTurn[],
    signal: AbortSignal,
    streamOptions: StreamOptions = {},
  ): AsyncGenerator<string> {
    const started = performance.now();
    let produced = false;
    try {
      streamOptions.onServedBy?.({ provider: primary.name, model: primary.model ?? primary.name });
      for await (const fragment of primary.stream(turns, signal, streamOptions)) {
        produced = true;
        yield fragment;
      }
      return;
    } catch (err) {
      const retryable = err instanceof ModelUnavailableError || err instanceof ModelTimeoutError;
      if (produced || signal.aborted || !retryable) throw err;
      options.onFallback?.(
        err instanceof ModelTimeoutError ? 'timeout' : 'unavailable',
        err,
        (performance.now() - started) / 1000,
      );
    }
    streamOptions.onServedBy?.({ provider: fallback.name, model: fallback.model ?? fallback.name });
    yield* fallback.stream(turns, signal, streamOptions);
  }

  return {
    name: primary.name,
    model: primary.model ?? primary.name,
    stream,
  };
}
