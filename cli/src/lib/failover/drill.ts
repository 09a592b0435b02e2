import { setTimeout as delay } from 'node:timers/promises';

/**
 * The failover drill's engine (docs/failover.md): writes through the service, the primary fails, a
 * replica is promoted, the writes go on; then every acknowledged write is looked up on the new
 * primary. It measures what an operator must know about a database failover:
 * - writes acknowledged, and how many of them the new primary does not hold (lost);
 * - the time from the failure to the first write acknowledged after it (RTO as clients feel it);
 * - the time from the promotion to the first write acknowledged after it (how fast the service
 *   finds the new primary: the part the service owns).
 *
 * What fails the primary and what promotes the replica are the caller's (pg_ctl on private clusters
 * in the tests; the operator's commands — patronictl, a managed database's failover API — with
 * `secops failover drill`). Only the timing of real requests against a real failover is measured:
 * the clock is the wall clock, by nature.
 */

export type WriteResult = { ok: true; id: string } | { ok: false; status: number; code?: string };

export interface DrillWriter {
  /** One write (the `n`th of the run); never throws: a network failure or timeout is `status: 0`. */
  write(n: number): Promise<WriteResult>;
}

export interface FailoverActions {
  /** Makes the primary fail (stop it, cut it off). */
  fail(): Promise<void>;
  /** Promotes the replica; absent when the platform promotes by itself (the drill then waits for writes). */
  promote?(): Promise<void>;
}

export interface FailoverDrillOptions {
  writer: DrillWriter;
  actions: FailoverActions;
  /** Which of the acknowledged write ids the (new) primary holds, read after the drill. */
  present(ids: readonly string[]): Promise<ReadonlySet<string>>;
  /** Writers in flight at once. */
  concurrency: number;
  /** Pause of each writer between two writes (0: back to back). */
  pauseMs: number;
  /** Writes before the failure. */
  warmupMs: number;
  /** Writes after the first write acknowledged after the promotion. */
  settleMs: number;
  /** Give up when no write is acknowledged this long after the failure. */
  recoveryTimeoutMs: number;
  /** Progress lines (stderr on a terminal). */
  progress?(message: string): void;
  now?(): number;
}

export interface FailoverDrillReport {
  ok: boolean;
  /** Why `ok` is false. */
  problems: string[];
  writes: {
    attempted: number;
    acknowledged: number;
    /** Answers other than 201 by status (0: no answer), e.g. `{ "503": 12 }`. */
    refused: Record<string, number>;
    lost: number;
    /** The lost writes' ids (at most 1,000). */
    lostIds: string[];
  };
  /** Milliseconds; null when it did not happen. */
  timing: {
    /** How long failing the primary took (the stop command). */
    failureMs: number;
    /** When the promotion had finished, from the start of the failure. */
    promotionMs: number | null;
    /** From the start of the failure to the first acknowledged write sent after the failure was complete. */
    rtoMs: number | null;
    /** From the end of the promotion to the first acknowledged write sent after it. */
    promotionToFirstWriteMs: number | null;
    /** Writes were refused between these two moments (relative to the failure). */
    lastWriteBeforeFailureMs: number | null;
  };
}

interface Attempt {
  sentAt: number;
  answeredAt: number;
  result: WriteResult;
}

const MAX_LOST_IDS = 1000;

export async function runFailoverDrill(options: FailoverDrillOptions): Promise<FailoverDrillReport> {
  const now = options.now ?? (() => performance.now());
  const say = options.progress ?? (() => undefined);
  const attempts: Attempt[] = [];
  const stop = new AbortController();
  let seq = 0;
  const writers = Array.from({ length: options.concurrency }, async () => {
    while (!stop.signal.aborted) {
      const n = seq++;
      const sentAt = now();
      const result = await options.writer.write(n);
      attempts.push({ sentAt, answeredAt: now(), result });
      if (options.pauseMs > 0) await delay(options.pauseMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  });
  const problems: string[] = [];
  let failedAt = Number.NaN;
  let failDoneAt = Number.NaN;
  let promotedAt: number | null = null;
  let firstAfterPromotion: Attempt | undefined;
  try {
    say(`writing for ${options.warmupMs} ms before the failure`);
    await delay(options.warmupMs);
    if (!attempts.some((a) => a.result.ok)) {
      const seen = describeRefusals(attempts);
      throw new Error(`no write was acknowledged before the failure (${seen || 'no answer yet'}): check the URL and the account`);
    }
    say('failing the primary');
    failedAt = now();
    await options.actions.fail();
    failDoneAt = now();
    if (options.actions.promote) {
      say('promoting the replica');
      await options.actions.promote();
      promotedAt = now();
    }
    const promotion = promotedAt ?? failDoneAt;
    say('waiting for the first write acknowledged by the new primary');
    const deadline = failedAt + options.recoveryTimeoutMs;
    for (;;) {
      firstAfterPromotion = firstAcknowledged(attempts, promotion);
      if (firstAfterPromotion) break;
      if (now() >= deadline) {
        problems.push(`no write was acknowledged within ${options.recoveryTimeoutMs} ms of the failure`);
        break;
      }
      await delay(20);
    }
    if (firstAfterPromotion) {
      say(`writes acknowledged again; writing ${options.settleMs} ms more`);
      await delay(options.settleMs);
    }
  } finally {
    stop.abort();
    await Promise.all(writers);
  }
  // Writes sent while the failure was under way may still have reached the old primary.
  const firstAfterFailure = firstAcknowledged(attempts, failDoneAt);

  const acknowledged = attempts.flatMap((a) => (a.result.ok ? [a.result.id] : []));
  say(`looking up ${acknowledged.length} acknowledged writes on the new primary`);
  const held = await options.present(acknowledged);
  const lostIds = acknowledged.filter((id) => !held.has(id));
  const refused: Record<string, number> = {};
  for (const a of attempts) if (!a.result.ok) refused[String(a.result.status)] = (refused[String(a.result.status)] ?? 0) + 1;
  const lastBefore = attempts.filter((a) => a.result.ok && a.answeredAt <= failedAt).at(-1);

  return {
    ok: problems.length === 0,
    problems,
    writes: {
      attempted: attempts.length,
      acknowledged: acknowledged.length,
      refused,
      lost: lostIds.length,
      lostIds: lostIds.slice(0, MAX_LOST_IDS),
    },
    timing: {
      failureMs: Number.isNaN(failDoneAt) ? 0 : Math.round(failDoneAt - failedAt),
      promotionMs: promotedAt === null ? null : Math.round(promotedAt - failedAt),
      rtoMs: firstAfterFailure ? Math.round(firstAfterFailure.answeredAt - failedAt) : null,
      promotionToFirstWriteMs:
        firstAfterPromotion && promotedAt !== null ? Math.round(firstAfterPromotion.answeredAt - promotedAt) : null,
      lastWriteBeforeFailureMs: lastBefore ? Math.round(lastBefore.answeredAt - failedAt) : null,
    },
  };
}

/** The earliest-answered acknowledged write sent at or after `since`. */
function firstAcknowledged(attempts: readonly Attempt[], since: number): Attempt | undefined {
  let first: Attempt | undefined;
  for (const a of attempts) if (a.result.ok && a.sentAt >= since && (!first || a.answeredAt < first.answeredAt)) first = a;
  return first;
}

function describeRefusals(attempts: readonly Attempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts) {
    if (a.result.ok) continue;
    const key = a.result.status === 0 ? 'no answer' : `${a.result.status}${a.result.code ? ` ${a.result.code}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, v]) => `${v} × ${k}`).join(', ');
}
