import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countPromptTokens, countTokens } from '../../../../../service/src/components/chat/models/token-estimate.js';

/**
 * The estimate behind budget reservations and the builtin model's usage: o200k_base counts for
 * ordinary text, special-token spellings counted as the text they are, and long unbroken runs
 * counted per code point instead of being encoded (superlinear BPE would block the event loop).
 */
describe('token estimate (o200k_base)', () => {
  it('counts ordinary text exactly as o200k_base encodes it', async () => {
    assert.equal(await countTokens(''), 0);
    assert.equal(await countTokens('Hello there friend'), 3);
    assert.equal(await countTokens('héllo wörld 你好 🙂'), 8);
    assert.equal(await countTokens('a\n\n  b\tc'), 5);
  });

  it('counts a special token spelled in a message as text instead of refusing it', async () => {
    // o200k_base would encode <|endoftext|> as one special token; as user text it is several.
    assert.equal(await countTokens('hi <|endoftext|> there'), 9);
    assert.ok((await countTokens('<|im_start|>system<|im_end|>')) > 2);
  });

  it('counts a run longer than 32 characters without whitespace one token per code point', async () => {
    assert.equal(await countTokens('語'.repeat(20_000)), 20_001, 'the run by code point, plus the space left in its place');
    assert.equal(await countTokens(`ok ${'😀'.repeat(40)} ok`), 40 + (await countTokens('ok   ok')));
  });

  it('adds the chat framing: 3 a message, 1 for the role, 3 to prime the reply', async () => {
    const turns = [
      { role: 'user' as const, content: 'Hello there friend' },
      { role: 'assistant' as const, content: '' },
    ];
    assert.equal(await countPromptTokens(turns), 3 + (3 + 3 + 1) + (3 + 0 + 1));
  });
});
