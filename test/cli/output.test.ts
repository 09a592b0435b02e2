import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext } from '../../cli/src/lib/context.js';
import { createReporter } from '../../cli/src/lib/output.js';
import { captureIo } from './capture.js';

function reporter(options: { json: boolean; isTTY: boolean; env?: Record<string, string> }) {
  const captured = captureIo(options.env ?? {}, options.isTTY);
  const ctx = createContext(captured.io, { json: options.json, databaseUrl: undefined }, async () => {
    throw new Error('unused');
  });
  return { out: createReporter(ctx), ...captured };
}

describe('reporter', () => {
  it('under --json writes one document and nothing else on stdout, and no progress', async () => {
    const { out, stdout, stderr } = reporter({ json: true, isTTY: true });
    out.line('human line');
    out.success('done');
    assert.equal(await out.step('working', async () => 42), 42);
    out.json({ ok: true });
    assert.deepEqual(JSON.parse(stdout()), { ok: true });
    assert.equal(stderr(), '');
    assert.throws(() => out.json({ again: true }), /exactly one document/);
  });

  it('off a terminal prints plain lines: no spinner, no colour', async () => {
    const { out, stdout, stderr } = reporter({ json: false, isTTY: false });
    await out.step('working', async () => undefined);
    out.success('done');
    out.json({ ignored: true });
    assert.equal(stdout(), '✔ done\n');
    assert.equal(stderr(), 'working…\n');
  });

  it('on a terminal draws a spinner on stderr and ends the step with a mark, even when it fails', async () => {
    const { out, stderr } = reporter({ json: false, isTTY: true, env: { NO_COLOR: '1' } });
    await assert.rejects(
      out.step('failing', async () => Promise.reject(new Error('nope'))),
      /nope/,
    );
    assert.match(stderr(), /⠋ failing/);
    assert.ok(stderr().endsWith('\r\x1b[2K✖ failing\n'), 'the spinner line is cleared and replaced by a mark');
  });
});
