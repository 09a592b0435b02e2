import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { composeBuiltinReply, createBuiltinModel } from '../../../../../service/src/components/chat/models/builtin.js';
import type { ChatTurn } from '../../../../../service/src/components/chat/models/provider.js';

async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const fragment of iterable) out.push(fragment);
  return out;
}

const ask = (content: string): ChatTurn[] => [{ role: 'user', content }];

describe('builtin model', () => {
  it('is named builtin', () => {
    assert.equal(createBuiltinModel({ delayMs: 0 }).name, 'builtin');
  });

  it('answers the same prompt with the same reply, and different prompts differently', async () => {
    const model = createBuiltinModel({ delayMs: 0 });
    const signal = new AbortController().signal;
    const a1 = (await collect(model.stream(ask('What is a circuit breaker?'), signal))).join('');
    const a2 = (await collect(model.stream(ask('What is a circuit breaker?'), signal))).join('');
    const b = (await collect(model.stream(ask('Tell me about the sea at night, please'), signal))).join('');
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
    assert.match(a1, /You wrote 5 words, beginning with "What is a circuit"/);
  });

  it('answers the last user turn, not the history', async () => {
    const model = createBuiltinModel({ delayMs: 0 });
    const signal = new AbortController().signal;
    const history: ChatTurn[] = [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'second' },
    ];
    assert.equal((await collect(model.stream(history, signal))).join(''), composeBuiltinReply('second').join(' '));
  });

  it('streams word by word: each fragment one word, every one after the first with its leading space', async () => {
    const fragments = await collect(createBuiltinModel({ delayMs: 0 }).stream(ask('hello there'), new AbortController().signal));
    assert.match(fragments[0]!, /^\S+$/);
    for (const f of fragments.slice(1)) assert.match(f, /^ \S+$/);
    assert.equal(fragments.join(''), composeBuiltinReply('hello there').join(' '));
  });

  it('always replies with 20–60 words, deterministically, whatever the prompt', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (prompt) => {
        const words = composeBuiltinReply(prompt);
        assert.ok(words.length >= 20 && words.length <= 60, `${words.length} words`);
        for (const w of words) assert.match(w, /^\S+$/u);
        assert.deepEqual(composeBuiltinReply(prompt), words);
      }),
    );
    assert.ok(composeBuiltinReply('').length >= 20);
    assert.ok(composeBuiltinReply('x'.repeat(100_000)).join(' ').length < 1000, 'echoed words are clipped');
  });

  it('with zero delay uses no timers: the whole reply is produced before any macrotask runs', async () => {
    let macrotaskRan = false;
    setImmediate(() => {
      macrotaskRan = true;
    });
    const fragments = await collect(createBuiltinModel({ delayMs: 0 }).stream(ask('quick'), new AbortController().signal));
    assert.ok(fragments.length >= 20);
    assert.equal(macrotaskRan, false);
  });

  it('pauses delayMs between fragments', async () => {
    const started = performance.now();
    const fragments = await collect(createBuiltinModel({ delayMs: 5 }).stream(ask('slow'), new AbortController().signal));
    assert.ok(performance.now() - started >= 5 * (fragments.length - 1) - 1);
  });

  it('when aborted mid-delay, stops promptly with the abort reason and yields nothing more', async () => {
    const controller = new AbortController();
    const iterator = createBuiltinModel({ delayMs: 60_000 }).stream(ask('abort me'), controller.signal)[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    const pending = iterator.next(); // now waiting out the 60 s delay
    const started = performance.now();
    setTimeout(() => controller.abort(), 10);
    await assert.rejects(pending, { name: 'AbortError' });
    assert.ok(performance.now() - started < 1000, 'the abort ended the wait');
    assert.equal((await iterator.next()).done, true);
  });

  it('when aborted between fragments with zero delay, throws the signal reason at the next fragment', async () => {
    const controller = new AbortController();
    const reason = new Error('client went away');
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const f of createBuiltinModel({ delayMs: 0 }).stream(ask('abort me'), controller.signal)) {
        seen.push(f);
        if (seen.length === 3) controller.abort(reason);
      }
    }, reason);
    assert.equal(seen.length, 3);
  });

  it('when the signal is already aborted, yields nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(collect(createBuiltinModel({ delayMs: 0 }).stream(ask('x'), controller.signal)), { name: 'AbortError' });
  });
});
