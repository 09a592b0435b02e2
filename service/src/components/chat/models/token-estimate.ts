import type { Tiktoken } from 'js-tiktoken/lite';
import type { ChatTurn } from './provider.js';

/**
 * Token counts where a provider reports none (the builtin model, an upstream that omits `usage`) and
 * for the prompt part of a budget reservation: js-tiktoken (pure JavaScript, no native code, runs on
 * Node 26) with o200k_base, the encoding of OpenAI's current models. Other models' tokenizers differ
 * by a few percent; the ledger flags such rows `estimated`.
 *
 * The ranks are loaded when the chat component starts (about 0.7 s of synchronous work, once per
 * process) rather than at import, so `secops` commands that import chat modules do not pay it.
 */
let encoder: Tiktoken | undefined;

async function load(): Promise<Tiktoken> {
  if (!encoder) {
    const [{ Tiktoken: Encoder }, ranks] = await Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/o200k_base')]);
    encoder ??= new Encoder(ranks.default);
  }
  return encoder;
}

/**
 * js-tiktoken's BPE is quadratic in the length of a run without whitespace (1,000 CJK characters
 * take 0.8 s, blocking the event loop), and a message may hold 32,000 of them. Runs longer than this
 * are not encoded: they count one token per code point, about right for CJK (o200k_base averages a
 * little under one) and generous for Latin runs (which average about 4 characters a token).
 */
const LONGEST_ENCODED_RUN = 32;

/**
 * Loads the encoder now (the chat component calls it at start-up): its ~0.7 s of synchronous work
 * then happens before the first request rather than stalling the event loop in the middle of one.
 */
export function preloadTokenizer(): void {
  load().catch(() => undefined); // a failure surfaces at the first count instead
}

/** Tokens of one text (an estimate: exact for ordinary prose, generous for long unbroken runs). */
export async function countTokens(text: string): Promise<number> {
  if (text === '') return 0;
  const encoder = await load();
  let total = 0;
  let ordinary = '';
  for (const part of text.split(/(\s+)/u)) {
    if (part.length <= LONGEST_ENCODED_RUN) ordinary += part;
    else {
      total += [...part].length;
      ordinary += ' ';
    }
  }
  return total + encoder.encode(ordinary).length;
}

/** OpenAI's chat framing: about 3 tokens per message plus 3 to prime the reply. */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

/** The prompt tokens a chat-completions call over `turns` costs. */
export async function countPromptTokens(turns: readonly ChatTurn[]): Promise<number> {
  let total = REPLY_PRIMING;
  for (const turn of turns) total += PER_MESSAGE + (await countTokens(turn.content)) + 1; // +1: the role
  return total;
}
