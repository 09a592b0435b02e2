import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createAuditLog } from '../../../../service/src/components/audit/audit-log.js';
import type { AuditRepo, AuditRow } from '../../../../service/src/components/audit/audit-repo.js';
import { createLogger } from '../../../../service/src/platform/logger.js';
import { manualClock } from '../../../helpers/clock.js';

/** An audit repo whose inserts fail with `failure` while `down` is true. */
function flakyRepo(failure: () => Error) {
  const stored: AuditRow[] = [];
  const state = { down: true, attempts: 0 };
  const repo: Pick<AuditRepo, 'insert'> = {
    async insert(rows) {
      state.attempts++;
      if (state.down) throw failure();
      stored.push(...rows);
    },
  };
  return { repo, stored, state };
}

function capturedLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('audit write-behind while the database is unavailable', () => {
  it('keeps the rows of a batch that met an unavailable database and stores them once it is back', async () => {
    const { repo, stored, state } = flakyRepo(refused);
    const { logger } = capturedLogger();
    const clock = manualClock();
    const audit = createAuditLog({ repo, logger, clock, batchDelayMs: 5, retryDelayMs: 20 });
    await audit.record({ type: 'logout', userId: null });
    await audit.record({ type: 'logout_all', userId: null });
    await clock.tick(5); // the batch is written, and meets the outage
    assert.equal(state.attempts, 1);
    await clock.tick(20); // one retry, still down
    assert.equal(state.attempts, 2);
    assert.equal(stored.length, 0);
    state.down = false;
    await clock.tick(20); // the next retry finds the database back
    assert.deepEqual(
      stored.map((r) => r.type),
      ['logout', 'logout_all'],
    );
    await audit.close();
  });

  it('drops the oldest rows beyond maxRetainedRows, and says so', async () => {
    const { repo, stored, state } = flakyRepo(refused);
    const { logger, lines } = capturedLogger();
    const clock = manualClock();
    const audit = createAuditLog({ repo, logger, clock, batchDelayMs: 5, retryDelayMs: 10, maxRetainedRows: 2 });
    for (const type of ['logout', 'logout_all', 'session_revoked'] as const) await audit.record({ type, userId: null });
    await clock.tick(5 + 10 + 10); // the batch and two retries, all refused
    assert.ok(state.attempts >= 2, `retried (${state.attempts} attempts)`);
    state.down = false;
    await clock.tick(10);
    assert.deepEqual(
      stored.map((r) => r.type),
      ['logout_all', 'session_revoked'],
    );
    assert.ok(lines.some((l) => l.includes('audit events dropped')));
    await audit.close();
  });

  it('does not retry a batch the database refused for another reason, nor at shutdown', async () => {
    const { repo, state } = flakyRepo(() => Object.assign(new Error('value too long'), { code: '22001' }));
    const { logger, lines } = capturedLogger();
    const clock = manualClock();
    const audit = createAuditLog({ repo, logger, clock, batchDelayMs: 5, retryDelayMs: 5 });
    await audit.record({ type: 'logout', userId: null });
    await clock.tick(50); // ten retry periods: none is scheduled for this kind of failure
    assert.equal(state.attempts, 1);
    assert.ok(lines.some((l) => l.includes('audit events could not be stored')));

    const outage = flakyRepo(refused);
    const closingClock = manualClock();
    const closing = createAuditLog({ repo: outage.repo, logger, clock: closingClock, batchDelayMs: 1000, retryDelayMs: 5 });
    await closing.record({ type: 'logout', userId: null });
    await closing.close();
    await closingClock.tick(30);
    assert.equal(outage.state.attempts, 1, 'close() tries once and does not keep the process alive retrying');
    assert.equal(closingClock.pending(), 0, 'no timer of the closed log is left');
    await audit.close();
  });
});
