import type { ChatTurn } from './provider.js';

/**
 * Token counts where a provider reports none (the builtin model, an upstream that omits `usage`) and
 * for the prompt part of a budget reservation: gpt-tokenizer (pure JavaScript, no native code, runs on
 * Node 26) with o200k_base, the encoding of OpenAI's current models. Other models' tokenizers differ
 * by a few percent; the ledger flags such rows `estimated`.
 *
 * gpt-tokenizer replaced js-tiktoken in issue 24: the same BPE and the same counts, in ~90 MiB of
 * memory instead of ~190 (js-tiktoken keeps every rank as its own Uint8Array) and about 3× faster.
 * The ranks are loaded when the chat component starts (synchronous work, once per process) rather
 * than at import, so `secops` commands that import chat modules do not pay it.
 */
type Encode = (text: string) => number;
let encoder: Encode | undefined;

/** Text that spells a special token (`<|endoftext|>`…) is a user's text like any other: counted, never refused. */
const AS_ORDINARY_TEXT = { disallowedSpecial: new Set<string>() };

async function load(): Promise<Encode> {
  if (!encoder) {
    const { encode } = await import('gpt-tokenizer/encoding/o200k_base');
    encoder ??= (text) => encode(text, AS_ORDINARY_TEXT).length;
  }
  return encoder;
}

/**
 * Byte-pair encoding is superlinear in the length of a run without whitespace (js-tiktoken took
 * 0.8 s for 1,000 CJK characters, gpt-tokenizer 0.2 s for 20,000 letters, blocking the event loop),
 * and a message may hold 32,000 of them. Runs longer than this are not encoded: they count one token
 * per code point, about right for CJK (o200k_base averages a little under one) and generous for
 * Latin runs (which average about 4 characters a token).
 */
const LONGEST_ENCODED_RUN = 32;

/**
 * Loads the encoder now (the chat component calls it at start-up): its synchronous work then happens
 * before the first request rather than stalling the event loop in the middle of one.
 */
export function preloadTokenizer(): void {
  load().catch(() => undefined); // a failure surfaces at the first count instead
}

/** Tokens of one text (an estimate: exact for ordinary prose, generous for long unbroken runs). */
export async function countTokens(text: string): Promise<number> {
  if (text === '') return 0;
  const encode = await load();
  let total = 0;
  let ordinary = '';
  for (const part of text.split(/(\s+)/u)) {
    if (part.length <= LONGEST_ENCODED_RUN) ordinary += part;
    else {
      total += [...part].length;
      ordinary += ' ';
    }
  }
  return total + encode(ordinary);
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
