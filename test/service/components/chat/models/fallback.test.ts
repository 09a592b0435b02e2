import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFallbackModel, type FallbackReason } from '../../../../../service/src/components/chat/models/fallback.js';
import {
  type ChatTurn,
  type ModelProvider,
  ModelTimeoutError,
  ModelUnavailableError,
  type ServedBy,
  type StreamOptions,
} from '../../../../../service/src/components/chat/models/provider.js';

const TURNS: ChatTurn[] = [{ role: 'user', content: 'hello' }];

/** A provider that yields `fragments`, then throws `error` (if any); counts its calls. */
function scripted(name: string, fragments: string[], error?: Error): ModelProvider & { calls: number; options: StreamOptions[] } {
  const provider = {
    name,
    model: `${name}-model`,
    calls: 0,
    options: [] as StreamOptions[],
    async *stream(_turns: readonly ChatTurn[], signal: AbortSignal, options?: StreamOptions) {
      provider.calls += 1;
      provider.options.push(options ?? {});
      for (const fragment of fragments) {
        signal.throwIfAborted();
        yield fragment;
      }
      if (error) throw error;
      options?.onUsage?.({ promptTokens: 3, completionTokens: fragments.length });
    },
  };
  return provider;
}

async function run(model: ModelProvider, signal = new AbortController().signal) {
  const served: ServedBy[] = [];
  const text: string[] = [];
  let error: unknown;
  try {
    for await (const fragment of model.stream(TURNS, signal, { maxTokens: 50, onServedBy: (s) => served.push(s) }))
      text.push(fragment);
  } catch (err) {
    error = err;
  }
  return { text: text.join(''), served, error };
}

describe('the fallback model (MODEL_FALLBACK_*)', () => {
  it('a healthy primary answers alone; the fallback is never called', async () => {
    const primary = scripted('openai', ['a', 'b']);
    const fallback = scripted('fallback', ['x']);
    const result = await run(createFallbackModel({ primary, fallback }));
    assert.equal(result.text, 'ab');
    assert.deepEqual(result.served, [{ provider: 'openai', model: 'openai-model' }]);
    assert.equal(fallback.calls, 0);
  });

  for (const [error, reason] of [
    [new ModelUnavailableError('model upstream answered HTTP 503'), 'unavailable'],
    [new ModelUnavailableError('circuit open'), 'unavailable'],
    [new ModelTimeoutError('model sent no response within 10000 ms'), 'timeout'],
  ] as const) {
    it(`a primary failing before its first token (${error.message}) is replaced by the fallback, reported as ${reason}`, async () => {
      const primary = scripted('openai', [], error);
      const fallback = scripted('fallback', ['x', 'y']);
      const seen: FallbackReason[] = [];
      const result = await run(
        createFallbackModel({
          primary,
          fallback,
          onFallback: (r, err) => {
            seen.push(r);
            assert.equal(err, error);
          },
        }),
      );
      assert.equal(result.error, undefined);
      assert.equal(result.text, 'xy');
      assert.deepEqual(seen, [reason]);
      assert.deepEqual(result.served.at(-1), { provider: 'fallback', model: 'fallback-model' }, 'the ledger names who answered');
      assert.equal(fallback.options[0]?.maxTokens, 50, 'the same output cap goes to the fallback');
    });
  }

  it('after the first token nothing is retried: the primary error is the call’s', async () => {
    const error = new ModelTimeoutError('model did not finish within 60000 ms');
    const primary = scripted('openai', ['half'], error);
    const fallback = scripted('fallback', ['x']);
    const seen: FallbackReason[] = [];
    const result = await run(createFallbackModel({ primary, fallback, onFallback: (r) => seen.push(r) }));
    assert.equal(result.text, 'half');
    assert.equal(result.error, error);
    assert.equal(fallback.calls, 0);
    assert.deepEqual(seen, []);
  });

  it('a call the caller aborted is not retried, nor an unexpected (programming) error', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborted = scripted('openai', ['never']);
    const fallback = scripted('fallback', ['x']);
    const result = await run(createFallbackModel({ primary: aborted, fallback }), controller.signal);
    assert.equal((result.error as Error).name, 'AbortError');
    const bug = new TypeError('boom');
    const buggy = await run(createFallbackModel({ primary: scripted('openai', [], bug), fallback }));
    assert.equal(buggy.error, bug);
    assert.equal(fallback.calls, 0);
  });

  it('when the fallback fails too, its error is the call’s', async () => {
    const fallbackError = new ModelUnavailableError('model upstream unreachable (ECONNREFUSED)');
    const result = await run(
      createFallbackModel({
        primary: scripted('openai', [], new ModelUnavailableError('circuit open')),
        fallback: scripted('fallback', [], fallbackError),
      }),
    );
    assert.equal(result.error, fallbackError);
    assert.equal(result.text, '');
  });
});
