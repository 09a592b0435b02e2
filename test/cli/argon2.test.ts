import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run } from '../../cli/src/commands/argon2.js';
import { createContext } from '../../cli/src/lib/context.js';
import { CheckFailedError } from '../../cli/src/lib/errors.js';
import {
  OWASP_MINIMUM,
  type PointResult,
  recommend,
} from '../../cli/src/lib/supply-chain/argon2-calibration.js';
import { parseMemorySize } from '../../cli/src/lib/supply-chain/argon2-defaults.js';
import { captureIo } from './capture.js';

function context(json = false) {
  const captured = captureIo({});
  const ctx = createContext(captured.io, { json, databaseUrl: undefined }, async () => {
    throw new Error('no database');
  });
  return { ctx, ...captured };
}

const tiny = [
  { memoryKiB: 19456, timeCost: 2, parallelism: 1 },
  { memoryKiB: 19456, timeCost: 3, parallelism: 1 },
  // Below the minimum: must be dropped, never measured or recommended.
  { memoryKiB: 8192, timeCost: 4, parallelism: 1 },
];

describe('secops argon2 bench', () => {
  it('recommends the strongest point within budget on a tiny grid, never below the OWASP minimum', async () => {
    const { ctx, stdout } = context();
    const r = await run(
      { points: tiny, rounds: 1, singleShots: 1, concurrency: 2, budgetMs: 10_000, memoryBudgetKiB: 262144 },
      ctx,
    );
    assert.deepEqual(r.belowMinimum, [{ memoryKiB: 8192, timeCost: 4, parallelism: 1 }]);
    assert.equal(r.results.length, 2);
    assert.ok(
      r.results.every((p) => p.status === 'measured' && p.concurrentP95Ms! > 0 && p.singleP50Ms! > 0 && p.peakRssMiB! > 0),
    );
    assert.deepEqual(
      { m: r.recommendation?.memoryKiB, t: r.recommendation?.timeCost, p: r.recommendation?.parallelism },
      { m: 19456, t: 3, p: 1 },
    );
    assert.equal(r.env, 'ARGON2_MEMORY_KIB=19456 ARGON2_TIME_COST=3 ARGON2_PARALLELISM=1');
    assert.match(stdout(), /ARGON2_MEMORY_KIB=19456 ARGON2_TIME_COST=3 ARGON2_PARALLELISM=1/);
    assert.match(stdout(), /★ recommended/);
    assert.match(stdout(), /p95 latency vs memory cost/);
  });

  it('skips points whose memory at the target concurrency exceeds the memory budget', async () => {
    const { ctx } = context(true);
    const points = [OWASP_MINIMUM, { memoryKiB: 65536, timeCost: 2, parallelism: 1 }];
    const r = await run({ points, rounds: 1, singleShots: 1, concurrency: 2, budgetMs: 10_000, memoryBudgetKiB: 65536 }, ctx);
    assert.equal(r.results.find((p) => p.memoryKiB === 65536)?.status, 'skipped: memory budget');
    assert.equal(r.recommendation?.memoryKiB, 19456);
  });

  it('fails (exit 1) rather than recommend anything below the minimum when nothing fits', async () => {
    const { ctx, stdout } = context(true);
    // A fake hash slower than the budget: even the minimum does not fit.
    const slow = () => new Promise((resolve) => setTimeout(resolve, 30));
    await assert.rejects(
      run({ points: [OWASP_MINIMUM], rounds: 1, singleShots: 1, concurrency: 1, budgetMs: 5, hash: slow }, ctx),
      CheckFailedError,
    );
    assert.equal(JSON.parse(stdout()).recommendation, null);
  });

  it('ranks by m·t, then memory, then the lower p95', () => {
    const point = (memoryKiB: number, timeCost: number, parallelism: number, p95: number, fits = true): PointResult => ({
      memoryKiB,
      timeCost,
      parallelism,
      status: 'measured',
      concurrentP95Ms: p95,
      requiredMiB: 0,
      fitsLatency: fits,
      fitsMemory: true,
    });
    const best = recommend([
      point(19456, 4, 1, 200), // 77824
      point(38912, 2, 1, 150), // 77824, more memory: wins the tie on m·t
      point(38912, 2, 2, 120), // same m·t and m, lower p95: wins
      point(65536, 4, 1, 400, false), // over budget
      point(8192, 20, 1, 10), // below the minimum: never
    ]);
    assert.deepEqual([best?.memoryKiB, best?.timeCost, best?.parallelism], [38912, 2, 2]);
  });

  it('parses memory budgets', () => {
    assert.equal(parseMemorySize('512MiB'), 524288);
    assert.equal(parseMemorySize('1GiB'), 1048576);
    assert.equal(parseMemorySize('65536KiB'), 65536);
    assert.equal(parseMemorySize('256'), 262144);
    assert.equal(parseMemorySize('lots'), undefined);
  });
});
