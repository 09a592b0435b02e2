import { createHash } from 'node:crypto';
import { sleep } from './abortable-sleep.js';
import type { ChatTurn, ModelProvider } from './provider.js';

export interface BuiltinModelOptions {
  /** Pause between fragments; 0 uses no timers at all (tests). */
  delayMs?: number;
}

const THOUGHTS = [
  'Every question hides a smaller and sharper one underneath it.',
  'The simplest explanation is usually the one worth testing first.',
  'A good answer often starts by restating the problem in plainer words.',
  'Most hard problems get easier once you write down what you already know.',
  'It helps to ask what would have to be true for this to work.',
  'Small experiments tend to teach more than long debates.',
  'Constraints are not obstacles here; they are the shape of the solution.',
  'The interesting part is usually the case nobody mentioned.',
];

const CLOSINGS = [
  'I am the builtin model, so this reply is a deterministic echo rather than real reasoning.',
  'This is the local development model speaking; configure an upstream model for real answers.',
  'Ask me the same thing again and you will get exactly this reply.',
  'No network was used to write this; it comes from the builtin development model.',
];

const MIN_WORDS = 20;
const MAX_WORDS = 60;
const ECHOED_WORDS = 4;
const MAX_ECHOED_CHARS = 24;

/** Cuts a word to `max` code points (never inside a surrogate pair). */
function clip(word: string, max: number): string {
  const chars = Array.from(word);
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : word;
}

/**
 * The reply to `prompt` as whitespace-free words: a summary of the prompt, then a "thought" and a
 * closing picked by hashing the prompt. Same prompt → same words; always 20–60 of them.
 */
export function composeBuiltinReply(prompt: string): string[] {
  const promptWords = prompt.split(/\s+/u).filter((w) => w.length > 0);
  const digest = createHash('sha256').update(prompt).digest();
  const pick = (list: readonly string[], byte: number) => list[digest[byte]! % list.length]!;

  const n = promptWords.length;
  const opening =
    n === 0
      ? 'You sent an empty message.'
      : `You wrote ${n} ${n === 1 ? 'word' : 'words'}, beginning with "${promptWords
          .slice(0, ECHOED_WORDS)
          .map((w) => clip(w, MAX_ECHOED_CHARS))
          .join(' ')}".`;
  const words = [opening, 'Here is a thought:', pick(THOUGHTS, 0), pick(CLOSINGS, 1)].join(' ').split(' ');
  for (let byte = 2; words.length < MIN_WORDS; byte++) words.push(...pick(THOUGHTS, byte).split(' '));
  return words.slice(0, MAX_WORDS);
}

/** The text of the last user turn: what the builtin model answers. */
function lastUserPrompt(turns: readonly ChatTurn[]): string {
  for (let i = turns.length - 1; i >= 0; i--) if (turns[i]!.role === 'user') return turns[i]!.content;
  return '';
}

/**
 * A local, deterministic model for development and tests: streams `composeBuiltinReply` word by
 * word (each fragment after the first carries its leading space), pausing `delayMs` between
 * fragments. Aborting `signal` ends the iteration with the signal's reason, even mid-pause.
 */
export function createBuiltinModel(options: BuiltinModelOptions = {}): ModelProvider {
  const delayMs = options.delayMs ?? 0;
  return {
    name: 'builtin',
    async *stream(turns: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<string> {
      const words = composeBuiltinReply(lastUserPrompt(turns));
      for (let i = 0; i < words.length; i++) {
        signal.throwIfAborted();
        if (i > 0 && delayMs > 0) await sleep(delayMs, signal);
        yield i === 0 ? words[i]! : ` ${words[i]}`;
      }
    },
  };
}
