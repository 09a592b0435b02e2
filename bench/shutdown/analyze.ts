import { fmt, type LatencySummary, summarize } from '../lib/stats.js';
import type { ObservedOutcome, Recording, RequestKind, RequestRecord, StreamRecord } from './recording.js';

/**
 * The shutdown scenario's verdict on one Recording: a pure function (no I/O, no clock, no process),
 * so every invariant can be tested on hand-built recordings (test/reliability/shutdown-analyze.test.ts).
 *
 * Must hold: no failure of a request written before SIGTERM; after SIGTERM no outcome other than
 * served, refused, reset_unaccepted (a refusal one TCP step later: the service never saw the request)
 * and reset of an idle reused keep-alive socket (the client-retryable race of HTTP keep-alive) — the
 * last two are counted and shown apart; no connection destroyed by the service with a request unread;
 * every SSE stream ends with `event: error` `shutting_down`; exit code 0; /readyz answers 503 within
 * readyFlipMaxMs of SIGTERM; the server's accept trace was found; and the run really had streams open,
 * posts in flight at SIGTERM, posts sent during the delay and refusals.
 */

/** A client outcome, or `reset_unaccepted`: a fresh connection reset that the accept trace proves the service never accepted. */
export type Outcome = ObservedOutcome | 'reset_unaccepted';

export const OUTCOMES: readonly Outcome[] = [
  'served',
  'http_error',
  'refused',
  'reset_unaccepted',
  'reset_reused',
  'reset_fresh',
  'response_cut',
  'timeout',
  'other',
];

export type OutcomeCounts = Record<Outcome, number>;
export type Phase = 'before' | 'delay' | 'after';

export interface Check {
  name: string;
  /** A must-check that fails fails the run. */
  must: boolean;
  ok: boolean;
  /** The measured value. */
  detail: number | string;
}

/** A request as reported: times in ms relative to SIGTERM. */
export interface RequestSummary {
  kind: RequestKind;
  outcome: Outcome;
  created_ms?: number;
  written_ms?: number;
  connected_ms?: number;
  ended_ms?: number;
  reused: boolean;
  client_port?: number;
  status?: number;
  error?: string;
  body?: string;
}

/** Times in ms after SIGTERM. */
export interface ShutdownFigures {
  requests: {
    by_phase: Record<Phase, OutcomeCounts>;
    readyz_by_phase: Record<Phase, OutcomeCounts>;
    in_flight_at_sigterm: { total: number; by_kind: Record<string, { in_flight: number; served: number }> };
    sent_during_delay: {
      total: number;
      served: number;
      post_message: number;
      post_message_served: number;
      get_latency_ms: LatencySummary;
    };
    answered_after_sigterm_without_connection_close: number;
    failed_before_sigterm: RequestSummary[];
    refused: number;
    reset_in_accept_queue_at_listener_close: RequestSummary[];
    retryable_reset_reused_keepalive: RequestSummary[];
    other_failures: RequestSummary[];
    service_answers_after_sigterm: Record<string, number>;
  };
  readiness: {
    polls: number;
    first_503_ms: number;
    first_503_sent_ms?: number;
    ready_200_sent_after_sigterm: number;
  };
  sse: {
    streams: number;
    open_at_sigterm: number;
    opened_ms_before_sigterm: number;
    ended_shutting_down: number;
    ended_otherwise: { last_event?: string; code?: unknown; end?: string; events: string[]; deltas: number }[];
    shutting_down_after_sigterm_ms: LatencySummary;
  };
  listener_close_trace: {
    at_ms: number;
    idle_connections_closed: { port: number | null; bytes_read: number | null; responding: boolean }[];
    destroyed_unread: number;
  } | null;
  /** Where the phases split: the trace's listener close, else the first refused attempt (ms after SIGTERM). */
  listener_closed_ms?: number;
  timings: {
    ready_503_ms: number;
    ready_503_sent_ms?: number;
    last_fresh_connection_ms?: number;
    listener_closed_ms: number | null;
    first_refused_attempt_ms?: number;
    last_response_ms?: number;
    exit_ms?: number;
    service_log: {
      shutdown_started_ms: number | null;
      drain_ms: unknown;
      drained: unknown;
      complete_ms: number | null;
      exit_code: unknown;
    };
  };
  exit: { code: number | null; signal: string | null };
  service_errors: { at_ms: number; msg: string; err: unknown }[];
  service_warnings: string[];
}

export interface ShutdownAnalysis {
  checks: Check[];
  figures: ShutdownFigures;
}

// Math.max/min over a spread would overflow the stack on a long run's hundred thousand requests.
const max = (xs: number[]) => xs.reduce((m, x) => Math.max(m, x), Number.NEGATIVE_INFINITY);
const min = (xs: number[]) => xs.reduce((m, x) => Math.min(m, x), Number.POSITIVE_INFINITY);

export function analyze(recording: Recording): ShutdownAnalysis {
  const { config } = recording;
  const sigtermAt = recording.sigterm.at;
  const sigtermEpoch = recording.sigterm.epoch;
  const probe = recording.acceptTrace ?? undefined;
  const log = recording.serviceLog;
  const rel = (x: number | undefined) => (x === undefined ? undefined : Math.round((x - sigtermAt) * 10) / 10);

  // A fresh connection reset before any response: did the service ever accept it? The probe lists
  // the client port of every connection the server accepted (the last few thousand) when the
  // listener closed; a port missing there was reset by the kernel in the listener's accept queue.
  // Client ports come back: a port closed by the server side is free for the next connection at once,
  // so a port in the trace proves an accept only when that accept came after this connection was
  // opened (1 ms of slack for mapping performance.now onto Date.now's milliseconds).
  const acceptTimes = new Map<number, number[]>();
  for (const [port, at] of probe?.accepted ?? []) acceptTimes.set(port, [...(acceptTimes.get(port) ?? []), at]);
  const oldestAccepted = probe?.accepted[0]?.[1] ?? Number.POSITIVE_INFINITY;
  const sigtermToEpoch = (x: number) => sigtermEpoch + (x - sigtermAt);
  const acceptedByService = (r: Pick<RequestRecord, 'localPort' | 'createdAt'>) =>
    r.localPort !== undefined &&
    (acceptTimes.get(r.localPort) ?? []).some((at) => at >= Math.floor(sigtermToEpoch(r.createdAt)) - 1);
  type Classified = Omit<RequestRecord, 'outcome'> & { outcome: Outcome };
  const classify = (r: RequestRecord): Classified =>
    r.outcome === 'reset_fresh' &&
    probe &&
    r.localPort !== undefined &&
    sigtermToEpoch(r.createdAt) > oldestAccepted &&
    !acceptedByService(r)
      ? { ...r, outcome: 'reset_unaccepted' }
      : r;
  const records = recording.requests.map(classify);
  const readyRecs = recording.readiness.map(classify);
  const all = [...records, ...readyRecs];

  const refused = all.filter((r) => r.outcome === 'refused');
  const firstRefusedAttempt = min(refused.map((r) => r.createdAt));
  const lastFreshConnect = max(all.map((r) => r.connectedAt ?? Number.NEGATIVE_INFINITY));
  // The listener closed between the last successful handshake and the first refused attempt; the
  // probe's timestamp (epoch ms, the same clock) pins it.
  const listenerClosedAt = probe ? sigtermAt + (probe.time - sigtermEpoch) : firstRefusedAttempt;
  const sentAt = (r: Classified) => r.writtenAt ?? r.createdAt;
  const phaseOf = (r: Classified): Phase =>
    r.writtenAt !== undefined && r.writtenAt < sigtermAt ? 'before' : sentAt(r) < listenerClosedAt ? 'delay' : 'after';
  // What the client saw: a request on a connection the service had accepted (its port is in the
  // probe's trace) that ended in a reset before any response. (The probe's list of connections
  // Node's parser saw as idle at close is kept in the report; the service no longer destroys the fresh
  // ones among them — platform/http/server.ts — so it is no evidence of a loss.)
  const destroyedUnread = all.filter((r) => phaseOf(r) !== 'before' && r.outcome === 'reset_fresh' && acceptedByService(r));
  const count = (rs: Classified[]) =>
    Object.fromEntries(OUTCOMES.map((o) => [o, rs.filter((r) => r.outcome === o).length])) as OutcomeCounts;
  const byPhase = (rs: Classified[]) => ({
    before: count(rs.filter((r) => phaseOf(r) === 'before')),
    delay: count(rs.filter((r) => phaseOf(r) === 'delay')),
    after: count(rs.filter((r) => phaseOf(r) === 'after')),
  });
  const inFlight = records.filter((r) => r.writtenAt !== undefined && r.writtenAt < sigtermAt && r.endAt >= sigtermAt);
  const inFlightByKind = Object.fromEntries(
    (['me', 'conversations', 'post_message'] as const).map((k) => [
      k,
      {
        in_flight: inFlight.filter((r) => r.kind === k).length,
        served: inFlight.filter((r) => r.kind === k && r.outcome === 'served').length,
      },
    ]),
  );
  // A request written before SIGTERM must be answered, whatever happens. After it: refusals, resets
  // in the accept queue at listener close (the service never saw them: a refusal one TCP step later)
  // and resets of an idle reused keep-alive socket (client-retryable) are expected; nothing else.
  const expectedAfter = new Set<Outcome>(['served', 'refused', 'reset_unaccepted', 'reset_reused']);
  const beforeFailures = all.filter((r) => phaseOf(r) === 'before' && r.outcome !== 'served');
  const retryable = all.filter((r) => phaseOf(r) !== 'before' && r.outcome === 'reset_reused');
  const unaccepted = all.filter((r) => phaseOf(r) !== 'before' && r.outcome === 'reset_unaccepted');
  const otherFailures = all.filter((r) => phaseOf(r) !== 'before' && !expectedAfter.has(r.outcome));
  const delayServed = records.filter((r) => phaseOf(r) === 'delay' && r.outcome === 'served');
  const delaySent = records.filter((r) => phaseOf(r) === 'delay');
  const delayPosts = delaySent.filter((r) => r.kind === 'post_message');
  const delayLatency = summarize(delayServed.filter((r) => r.kind !== 'post_message').map((r) => r.endAt - r.createdAt));
  const lastServedEnd = max(records.filter((r) => r.outcome === 'served').map((r) => r.endAt));
  const keptAliveAfterSigterm = all.filter(
    (r) => r.writtenAt !== undefined && r.writtenAt >= sigtermAt && r.responseAt !== undefined && !r.connectionClose,
  );

  const answered503 = readyRecs.filter((r) => r.status === 503 && r.responseAt !== undefined);
  const first503 = answered503.sort((a, b) => (a.responseAt as number) - (b.responseAt as number))[0];
  const late200 = readyRecs.filter((r) => r.status === 200 && (r.writtenAt ?? r.createdAt) >= sigtermAt);
  const readyFlipMs = first503?.responseAt !== undefined ? first503.responseAt - sigtermAt : Number.NaN;

  const streamEnds = recording.streams;
  // The scenario notes SIGTERM's instant synchronously before sending it: a stream that had ended
  // by then has an end time at or before it.
  const openAtSigterm = streamEnds.filter((s) => s.endAt === undefined || s.endAt > sigtermAt).length;
  const shuttingDown = streamEnds.filter((s) => s.shuttingDownAt !== undefined && s.last?.event === 'error' && s.end === 'end');
  const streamOther = streamEnds.filter((s) => !shuttingDown.includes(s));
  const streamEndMs = summarize(shuttingDown.map((s) => (s.shuttingDownAt as number) - sigtermAt));

  const started = log.find((l) => l.msg.startsWith('shutdown started'));
  const drainLine = log.find((l) => l.msg === 'all in-flight requests finished' || l.msg.startsWith('grace period over'));
  const completeLine = log.find((l) => l.msg === 'shutdown complete');
  // Access-log lines of 5xx answers are logged at error level (the 503s of /readyz among them): not faults.
  const serviceErrors = log
    .filter((l) => (l.level === 'error' || l.level === 'fatal') && l.msg !== 'request')
    .map((l) => ({ at_ms: l.time - sigtermEpoch, msg: l.msg, err: l.err }));
  const serverStatuses: Record<string, number> = {};
  for (const l of log) {
    if (l.msg === 'request' && typeof l.status === 'number' && l.time >= sigtermEpoch) {
      const key = `${l.route === '/readyz' ? 'readyz ' : ''}${l.status}`;
      serverStatuses[key] = (serverStatuses[key] ?? 0) + 1;
    }
  }

  const { code: exitCode, signal: exitSignal } = recording.exit;
  const STREAMS = config.streams;
  const postInFlight = inFlightByKind.post_message?.in_flight ?? 0;
  const checks: Check[] = [
    {
      name: 'requests written before SIGTERM that failed',
      detail: beforeFailures.length,
      must: true,
      ok: beforeFailures.length === 0,
    },
    { name: 'other failures after SIGTERM', detail: otherFailures.length, must: true, ok: otherFailures.length === 0 },
    {
      name: `SSE streams ended with shutting_down (of ${STREAMS})`,
      detail: shuttingDown.length,
      must: true,
      ok: shuttingDown.length === STREAMS,
    },
    { name: 'SSE streams ended otherwise', detail: streamOther.length, must: true, ok: streamOther.length === 0 },
    { name: 'exit code', detail: exitCode ?? `signal ${exitSignal}`, must: true, ok: exitCode === 0 },
    {
      name: `ms SIGTERM → /readyz 503 (≤ ${config.readyFlipMaxMs})`,
      detail: fmt(readyFlipMs),
      must: true,
      ok: readyFlipMs <= config.readyFlipMaxMs,
    },
    {
      name: 'connections the service destroyed with a request unread',
      detail: destroyedUnread.length,
      must: true,
      ok: destroyedUnread.length === 0,
    },
    {
      name: 'server-side trace found (bench/lib/shutdown-probe.cjs)',
      detail: probe ? 'yes' : 'no',
      must: true,
      ok: probe !== undefined,
    },
    // The run proves something only if these hold.
    { name: `SSE streams open at SIGTERM (of ${STREAMS})`, detail: openAtSigterm, must: true, ok: openAtSigterm === STREAMS },
    { name: 'requests in flight at SIGTERM (> 0)', detail: inFlight.length, must: true, ok: inFlight.length > 0 },
    { name: 'POST …/messages in flight at SIGTERM (> 0)', detail: postInFlight, must: true, ok: postInFlight > 0 },
    { name: 'POST …/messages sent during the delay (> 0)', detail: delayPosts.length, must: true, ok: delayPosts.length > 0 },
    { name: 'refusals after the listener closed (> 0)', detail: refused.length, must: true, ok: refused.length > 0 },
    // Reported, expected, not gating.
    { name: 'resets in the accept queue at listener close (expected)', detail: unaccepted.length, must: false, ok: true },
    { name: 'resets of reused idle keep-alive sockets (retryable)', detail: retryable.length, must: false, ok: true },
  ];

  const summary = (r: Classified): RequestSummary => ({
    kind: r.kind,
    outcome: r.outcome,
    created_ms: rel(r.createdAt),
    written_ms: rel(r.writtenAt),
    connected_ms: rel(r.connectedAt),
    ended_ms: rel(r.endAt),
    reused: r.reused,
    client_port: r.localPort,
    status: r.status,
    error: r.error,
    body: r.body,
  });
  const figures: ShutdownFigures = {
    requests: {
      by_phase: byPhase(records),
      readyz_by_phase: byPhase(readyRecs),
      in_flight_at_sigterm: { total: inFlight.length, by_kind: inFlightByKind },
      sent_during_delay: {
        total: delaySent.length,
        served: delayServed.length,
        post_message: delayPosts.length,
        post_message_served: delayPosts.filter((r) => r.outcome === 'served').length,
        get_latency_ms: delayLatency,
      },
      answered_after_sigterm_without_connection_close: keptAliveAfterSigterm.length,
      failed_before_sigterm: beforeFailures.map(summary),
      refused: refused.length,
      reset_in_accept_queue_at_listener_close: unaccepted.map(summary),
      retryable_reset_reused_keepalive: retryable.map(summary),
      other_failures: otherFailures.map(summary),
      service_answers_after_sigterm: serverStatuses,
    },
    readiness: {
      polls: readyRecs.length,
      first_503_ms: readyFlipMs,
      first_503_sent_ms: rel(first503?.writtenAt),
      ready_200_sent_after_sigterm: late200.length,
    },
    sse: {
      streams: STREAMS,
      open_at_sigterm: openAtSigterm,
      opened_ms_before_sigterm: Math.round(sigtermAt - recording.streamsOpenedAt),
      ended_shutting_down: shuttingDown.length,
      ended_otherwise: streamOther.map((s: StreamRecord) => ({
        last_event: s.last?.event,
        code: s.last?.data?.code,
        end: s.end,
        events: s.events,
        deltas: s.deltas,
      })),
      shutting_down_after_sigterm_ms: streamEndMs,
    },
    listener_close_trace: probe
      ? { at_ms: probe.time - sigtermEpoch, idle_connections_closed: probe.idle, destroyed_unread: destroyedUnread.length }
      : null,
    listener_closed_ms: rel(listenerClosedAt),
    timings: {
      ready_503_ms: readyFlipMs,
      ready_503_sent_ms: rel(first503?.writtenAt),
      last_fresh_connection_ms: rel(lastFreshConnect),
      listener_closed_ms: probe ? probe.time - sigtermEpoch : null,
      first_refused_attempt_ms: rel(firstRefusedAttempt),
      last_response_ms: rel(lastServedEnd),
      exit_ms: rel(recording.exit.at),
      service_log: {
        shutdown_started_ms: started ? started.time - sigtermEpoch : null,
        drain_ms: drainLine?.drain_ms ?? null,
        drained: drainLine?.drained ?? null,
        complete_ms: completeLine ? completeLine.time - sigtermEpoch : null,
        exit_code: completeLine?.exit_code ?? null,
      },
    },
    exit: { code: exitCode, signal: exitSignal },
    service_errors: serviceErrors,
    service_warnings: recording.serviceWarnings,
  };
  return { checks, figures };
}
