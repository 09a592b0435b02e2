import type { ChatTurn, ModelProvider } from '../../service/src/components/chat/index.js';

/** One model call the test drives: each `say` is a fragment the service receives at once. */
export interface ScriptedRun {
  readonly turns: readonly ChatTurn[];
  say(text: string): void;
  /** Ends the reply normally. Until then the call hangs (as a slow or stuck upstream does). */
  end(): void;
}

export interface ScriptedModel extends ModelProvider {
  /** The next call to the model (already made, or the next one). */
  nextRun(): Promise<ScriptedRun>;
}

/**
 * A model whose replies the test writes fragment by fragment: no timers, no sleeps — a stream is
 * exactly as far as the test has said. Aborting the call ends it with an AbortError, as providers do.
 */
export function scriptedModel(): ScriptedModel {
  const made: ScriptedRun[] = [];
  const waiting: ((run: ScriptedRun) => void)[] = [];
  let taken = 0;
  return {
    name: 'scripted',
    nextRun() {
      const run = made[taken];
      if (run) {
        taken++;
        return Promise.resolve(run);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    stream(turns: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<string> {
      const queued: string[] = [];
      let ended = false;
      let wake: (() => void) | undefined;
      const run: ScriptedRun = {
        turns,
        say(text) {
          queued.push(text);
          wake?.();
        },
        end() {
          ended = true;
          wake?.();
        },
      };
      const waiter = waiting.shift();
      if (waiter) {
        taken++;
        made.push(run);
        waiter(run);
      } else made.push(run);
      signal.addEventListener('abort', () => wake?.(), { once: true });
      return (async function* () {
        for (;;) {
          if (signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
          while (queued.length > 0) yield queued.shift() as string;
          if (ended) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      })();
    },
  };
}
