import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * The machine's own Node (this workplace's is 20, end of life) running the entry points directly,
 * outside npm: each must stop at once with one line saying what to run instead — never a stack
 * trace from a module that needs a newer Node.
 */
const OLD_NODE = process.env.OLD_NODE_BIN ?? '/usr/bin/node';
const probe = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' });
const major = probe.status === 0 ? Number(/^v(\d+)/.exec(probe.stdout)?.[1]) : Number.NaN;
const skip = Number.isNaN(major) ? `no Node at ${OLD_NODE} (OLD_NODE_BIN)` : major >= 24 ? `${OLD_NODE} is ${probe.stdout.trim()}, not older than 24` : false;

describe('an older Node running the code directly', { skip }, () => {
  for (const entry of ['bin/rampart.js', 'bin/secops.js']) {
    it(`${entry} exits 1 with one line naming the Node it needs and what to run`, () => {
      const run = spawnSync(OLD_NODE, [entry, '--help'], { encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin' } });
      assert.equal(run.status, 1);
      assert.equal(run.stdout, '');
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, /^rampart: Node v\d+\.\d+\.\d+ is too old: this project runs on Node >= 24\.11/);
      assert.match(lines[0]!, /npm start/);
    });
  }
});
