import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSessionGuard } from '../../../../service/src/components/auth/session-guard.js';
import type { SessionsRepo } from '../../../../service/src/components/auth/sessions-repo.js';
import { manualClock } from '../../../helpers/clock.js';

type State = Awaited<ReturnType<SessionsRepo['state']>>;

/** A sessions repo whose lookups answer only when the test releases them, counting each. */
function heldRepo(state: () => State) {
  const waiting: (() => void)[] = [];
  let lookups = 0;
  return {
    sessions: {
      async state(): Promise<State> {
        lookups += 1;
        await new Promise<void>((resolve) => waiting.push(resolve));
        return state();
      },
    },
    lookups: () => lookups,
    release() {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

const active = (): State =>
  ({ user_id: 'u1', revoked_at: null, expires_at: new Date(Date.parse('2027-01-01T00:00:00Z')) }) as State;

async function outcome(p: Promise<void>): Promise<'ok' | 'refused'> {
  try {
    await p;
    return 'ok';
  } catch {
    return 'refused';
  }
}

describe('the session guard', () => {
  it("a session's requests that arrive while its answer is being read wait for that one read", async () => {
    const clock = manualClock();
    const repo = heldRepo(active);
    const guard = createSessionGuard({ sessions: repo.sessions, clock, ttlMs: 1000 });
    const first = Array.from({ length: 10 }, () => outcome(guard.assertActive('s1', 'u1')));
    assert.equal(repo.lookups(), 1, 'ten requests, one read');
    repo.release();
    assert.deepEqual(await Promise.all(first), Array(10).fill('ok'));

    // Cached for ttlMs: no read at all; once stale, one read again for all that arrive together.
    assert.equal(await outcome(guard.assertActive('s1', 'u1')), 'ok');
    assert.equal(repo.lookups(), 1);
    await clock.tick(1000);
    const stale = Array.from({ length: 5 }, () => outcome(guard.assertActive('s1', 'u1')));
    assert.equal(repo.lookups(), 2);
    repo.release();
    assert.deepEqual(await Promise.all(stale), Array(5).fill('ok'));
  });

  it('each session is read on its own', async () => {
    const repo = heldRepo(active);
    const guard = createSessionGuard({ sessions: repo.sessions, clock: manualClock() });
    const both = [outcome(guard.assertActive('s1', 'u1')), outcome(guard.assertActive('s2', 'u1'))];
    assert.equal(repo.lookups(), 2);
    repo.release();
    assert.deepEqual(await Promise.all(both), ['ok', 'ok']);
  });

  it('a revocation on this replica while the read is on its way refuses every request waiting for it', async () => {
    const repo = heldRepo(active);
    const guard = createSessionGuard({ sessions: repo.sessions, clock: manualClock() });
    const waiting = Array.from({ length: 3 }, () => outcome(guard.assertActive('s1', 'u1')));
    guard.markRevoked('s1');
    repo.release();
    assert.deepEqual(await Promise.all(waiting), ['refused', 'refused', 'refused'], 'the older "active" answer does not win');
    assert.equal(await outcome(guard.assertActive('s1', 'u1')), 'refused');
    assert.equal(repo.lookups(), 1, 'a revoked session is not read again');
  });

  it('a failed read fails the requests waiting for it, and the next request reads again', async () => {
    let fail = true;
    let lookups = 0;
    const guard = createSessionGuard({
      sessions: {
        async state() {
          lookups += 1;
          await Promise.resolve();
          if (fail) throw new Error('database unavailable');
          return active();
        },
      },
      clock: manualClock(),
    });
    const waiting = [guard.assertActive('s1', 'u1'), guard.assertActive('s1', 'u1')];
    const results = await Promise.allSettled(waiting);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(lookups, 1);
    fail = false;
    await guard.assertActive('s1', 'u1');
    assert.equal(lookups, 2);
  });
});
