import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * The service's stdout logger buffers lines (up to LOG_BUFFER_BYTES, at most LOG_FLUSH_MS): what a
 * process logged just before it ended must still reach stdout — on a normal exit, process.exit()
 * in the middle of work, and an uncaught error — or an incident's last lines would be lost.
 */
const script = (ending: string) => `
  const { createLogger } = await import(${JSON.stringify(new URL('../../../service/src/platform/logger.ts', import.meta.url).href)});
  const logger = createLogger({ level: 'info' });
  for (let i = 0; i < 3; i++) logger.info({ n: i }, 'buffered line');
  ${ending}
`;

function run(ending: string) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(ending)], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const lines = child.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; n: number });
  return { status: child.status, lines };
}

describe('buffered stdout logging', () => {
  for (const [name, ending, status] of [
    ['the event loop empties', '', 0],
    ['process.exit() is called at once', 'process.exit(3);', 3],
    ['an uncaught error ends the process', "throw new Error('boom');", 1],
  ] as const) {
    it(`writes every buffered line when ${name}`, () => {
      const { status: code, lines } = run(ending);
      assert.equal(code, status);
      assert.deepEqual(
        lines.map((l) => [l.msg, l.n]),
        [0, 1, 2].map((n) => ['buffered line', n]),
      );
    });
  }
});
