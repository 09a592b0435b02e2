import type { SseEvent } from './sse-client.js';

/**
 * What the soak (bench/soak.ts) checks on the paths of issue 21, as plain functions over what a client
 * saw: each returns what is wrong, or undefined.
 */

/** The seq of `<reply_message_id>:<seq>` (docs/api.md "Streaming a reply"), if the id is this reply's. */
export function seqOf(replyId: string, id: string | undefined): number | undefined {
  const m = /^([0-9a-f-]{36}):(\d+)$/i.exec(id ?? '');
  return m && m[1] === replyId ? Number(m[2]) : undefined;
}

/**
 * Nothing lost across a dropped stream and its resume (docs/api.md "Resuming a reply"): the deltas read
 * before the drop and after the resume carry seq 1, 2, … n, each exactly once; the resume ends with
 * `done` numbered n + 1; and the stored reply's content is the deltas' text joined.
 */
export function resumeLost(replyId: string, before: SseEvent[], after: SseEvent[]): string | undefined {
  const done = after.at(-1);
  if (done?.event !== 'done') return `the resume ended with ${done?.event ?? 'nothing'}: ${JSON.stringify(done?.data)}`;
  const deltas = [...before, ...after].filter((e) => e.event === 'delta');
  for (const [i, e] of deltas.entries()) {
    if (seqOf(replyId, e.id) !== i + 1) return `delta ${i + 1} of ${deltas.length} has id ${e.id} (a gap or a duplicate)`;
  }
  if (seqOf(replyId, done.id) !== deltas.length + 1) return `done has id ${done.id} after ${deltas.length} deltas`;
  const text = deltas.map((e) => e.data?.text ?? '').join('');
  const content = done.data?.message?.content;
  if (text !== content) return `the deltas say ${JSON.stringify(text)}, the stored reply ${JSON.stringify(content)}`;
  return undefined;
}

export interface Answer {
  status: number;
  body: any;
  headers?: Headers;
}

/**
 * A retry with the same Idempotency-Key and body (docs/api.md "Idempotency keys"): the same status; a
 * kept answer (2xx) comes back replayed, with the same reply — no second model call.
 */
export function idempotencyMismatch(first: Answer, retry: Answer): string | undefined {
  if (retry.status !== first.status) return `first ${first.status}, retry ${retry.status}`;
  if (first.status < 200 || first.status >= 300) return undefined;
  if (retry.headers?.get('idempotency-replayed') !== 'true') return 'the retry ran again (no Idempotency-Replayed: true)';
  if (retry.body?.reply?.id !== first.body?.reply?.id) return `reply ${first.body?.reply?.id}, then ${retry.body?.reply?.id}`;
  return undefined;
}

export interface DayUsage {
  used: number;
  resets_at: string;
}

/** GET /v1/usage over a run: the day's `used` never goes down, except across the day's reset. */
export function usageRegressed(previous: DayUsage | undefined, current: DayUsage): string | undefined {
  if (!previous || previous.resets_at !== current.resets_at) return undefined;
  return current.used < previous.used ? `day.used went from ${previous.used} to ${current.used}` : undefined;
}
