import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

/** `npm test`'s runner on fixture files, with services already "given" so it starts none. */
function runner(files: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/run-tests.ts', ...files], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      TEST_DATABASE_URL: 'postgres://unused@127.0.0.1:1/none',
      TEST_REDIS_URL: 'redis://127.0.0.1:1',
      ...env,
    },
  });
  return { code: run.status, out: run.stdout + run.stderr };
}

describe('the test runner (scripts/run-tests.ts)', () => {
  it('kills a file that runs past TEST_FILE_TIMEOUT_MS and fails the run, naming it', () => {
    const started = performance.now();
    const { code, out } = runner(['test/fixtures/runner/hangs.test.ts', 'test/fixtures/runner/skips.test.ts'], {
      TEST_FILE_TIMEOUT_MS: '3000',
    });
    assert.equal(code, 1, out);
    assert.match(out, /✖ test\/fixtures\/runner\/hangs\.test\.ts: timed out after 3 s/);
    assert.match(out, /^# fail 1$/m);
    assert.match(out, /^# pass 1$/m, 'the other file still ran');
    assert.ok(performance.now() - started < 30_000, 'the deadline, not the per-test timeout, ended it');
  });

  it('ends a file whose tests finished even though a timer would keep it alive', () => {
    const { code, out } = runner(['test/fixtures/runner/lingers.test.ts'], { TEST_FILE_TIMEOUT_MS: '20000' });
    assert.equal(code, 0, out);
    assert.match(out, /^1 passed, 0 failed, 0 skipped$/m);
  });

  it('names every skipped test with its reason and counts it in the summary', () => {
    const { code, out } = runner(['test/fixtures/runner/skips.test.ts']);
    assert.equal(code, 0, out);
    assert.match(out, /skipped \(1\):\n {2}- test\/fixtures\/runner\/skips\.test\.ts › needs something this machine lacks: no frobnicator on this machine/);
    assert.match(out, /^# skipped 1$/m);
    assert.match(out, /^1 passed, 0 failed, 1 skipped$/m);
  });
});
