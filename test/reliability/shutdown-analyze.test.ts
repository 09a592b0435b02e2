import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from '../../bench/shutdown/analyze.js';
import type { Recording, RequestRecord, StreamRecord } from '../../bench/shutdown/recording.js';

/**
 * bench/shutdown/analyze.ts on hand-built recordings: a clean shutdown passes every must-check, and
 * each must-check fails on a recording planted with its violation — and only the checks that
 * violation breaks. No service, no network, no clock: analyze() is a pure function of the Recording.
 *
 * Times: the load generator's clock reads SIGTERM_AT at SIGTERM and the epoch clock EPOCH; `at(ms)`
 * and `epoch(ms)` are ms after SIGTERM on each.
 */

const SIGTERM_AT = 50_000;
const EPOCH = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number) => SIGTERM_AT + ms;
const epoch = (ms: number) => EPOCH + ms;

const CHECK = {
  beforeFailed: 'requests written before SIGTERM that failed',
  otherFailures: 'other failures after SIGTERM',
  streamsShuttingDown: 'SSE streams ended with shutting_down (of 3)',
  streamsOtherwise: 'SSE streams ended otherwise',
  exitCode: 'exit code',
  readyFlip: 'ms SIGTERM → /readyz 503 (≤ 100)',
  destroyedUnread: 'connections the service destroyed with a request unread',
  trace: 'server-side trace found (bench/lib/shutdown-probe.cjs)',
  streamsOpen: 'SSE streams open at SIGTERM (of 3)',
  inFlight: 'requests in flight at SIGTERM (> 0)',
  postsInFlight: 'POST …/messages in flight at SIGTERM (> 0)',
  postsInDelay: 'POST …/messages sent during the delay (> 0)',
  refusals: 'refusals after the listener closed (> 0)',
} as const;
const MUST_CHECKS = Object.values(CHECK);
const REPORTED = [
  'resets in the accept queue at listener close (expected)',
  'resets of reused idle keep-alive sockets (retryable)',
];

/** Port of the connection that sat in the accept queue when the listener closed (at 2002 ms). */
const QUEUED_PORT = 41100;

function served(r: Omit<RequestRecord, 'outcome' | 'reused'> & { reused?: boolean }): RequestRecord {
  return { reused: false, ...r, outcome: 'served' };
}

function shutDownStream(): StreamRecord {
  return {
    status: 200,
    openedAt: at(-2500),
    events: ['message', 'error'],
    deltas: 12,
    last: { event: 'error', data: { code: 'shutting_down' } },
    shuttingDownAt: at(30),
    endAt: at(31),
    end: 'end',
  };
}

/**
 * A clean shutdown: requests served before SIGTERM and in flight through it (a GET and a post), a
 * post and a GET sent during the delay, a fresh connection reset in the accept queue as the listener
 * closed (its port is not in the trace), a reset of a reused keep-alive socket at that moment,
 * refusals after it; /readyz 503 8 ms after SIGTERM; three streams ended with shutting_down; exit 0.
 */
function cleanRecording(): Recording {
  return {
    config: {
      delayMs: 2000,
      graceMs: 10_000,
      modelDelayMs: 200,
      streams: 3,
      getLoops: 6,
      postIntervalMs: 300,
      postMaxInFlight: 32,
      loadMs: 3000,
      readyPollMs: 10,
      readyFlipMaxMs: 100,
    },
    database: 'hand-built',
    prompts: { postReplyWords: 34, streamReplyWords: 44 },
    streamsOpenedAt: at(-2500),
    sigterm: { at: SIGTERM_AT, epoch: EPOCH },
    exit: { at: at(7300), code: 0, signal: null },
    requests: [
      served({
        kind: 'me',
        createdAt: at(-500),
        connectedAt: at(-499.6),
        writtenAt: at(-499.5),
        localPort: 41000,
        responseAt: at(-497),
        endAt: at(-496),
        status: 200,
      }),
      served({
        kind: 'me',
        createdAt: at(-3),
        writtenAt: at(-2.5),
        reused: true,
        localPort: 41000,
        responseAt: at(4),
        endAt: at(5),
        status: 200,
        connectionClose: true,
      }),
      served({
        kind: 'post_message',
        createdAt: at(-1200),
        connectedAt: at(-1199.5),
        writtenAt: at(-1199),
        localPort: 41001,
        responseAt: at(5400),
        endAt: at(5401),
        status: 201,
      }),
      served({
        kind: 'post_message',
        createdAt: at(600),
        connectedAt: at(600.8),
        writtenAt: at(601),
        localPort: 41002,
        responseAt: at(7200),
        endAt: at(7201),
        status: 201,
        connectionClose: true,
      }),
      served({
        kind: 'conversations',
        createdAt: at(1000),
        writtenAt: at(1000.4),
        reused: true,
        localPort: 41000,
        responseAt: at(1003),
        endAt: at(1004),
        status: 200,
        connectionClose: true,
      }),
      {
        kind: 'conversations',
        createdAt: at(1998),
        writtenAt: at(1998.2),
        reused: true,
        localPort: 41000,
        endAt: at(2003),
        outcome: 'reset_reused',
        error: 'ECONNRESET socket hang up',
      },
      {
        kind: 'me',
        createdAt: at(1999.4),
        connectedAt: at(1999.6),
        writtenAt: at(1999.7),
        localPort: QUEUED_PORT,
        reused: false,
        endAt: at(2005),
        outcome: 'reset_fresh',
        error: 'ECONNRESET read ECONNRESET',
      },
      {
        kind: 'me',
        createdAt: at(2010),
        reused: false,
        endAt: at(2010.5),
        outcome: 'refused',
        error: 'ECONNREFUSED connect ECONNREFUSED',
      },
    ],
    readiness: [
      served({
        kind: 'readyz',
        createdAt: at(-20),
        connectedAt: at(-19.9),
        writtenAt: at(-19.8),
        localPort: 41200,
        responseAt: at(-18),
        endAt: at(-17.9),
        status: 200,
      }),
      served({
        kind: 'readyz',
        createdAt: at(5),
        writtenAt: at(5.1),
        reused: true,
        localPort: 41200,
        responseAt: at(8),
        endAt: at(8.2),
        status: 503,
        connectionClose: true,
      }),
      {
        kind: 'readyz',
        createdAt: at(2020),
        reused: false,
        endAt: at(2020.3),
        outcome: 'refused',
        error: 'ECONNREFUSED connect ECONNREFUSED',
      },
    ],
    streams: [shutDownStream(), shutDownStream(), shutDownStream()],
    acceptTrace: {
      time: epoch(2002),
      accepted: [
        [41000, epoch(-3100)],
        [41001, epoch(-1199)],
        [41200, epoch(-20)],
        [41002, epoch(600)],
      ],
      idle: [],
    },
    serviceLog: [
      { time: epoch(2), level: 'info', msg: 'shutdown started (SIGTERM)' },
      { time: epoch(8), level: 'error', msg: 'request', route: '/readyz', status: 503 },
      { time: epoch(1004), level: 'info', msg: 'request', route: '/v1/conversations', status: 200 },
      { time: epoch(6500), level: 'info', msg: 'all in-flight requests finished', drain_ms: 4500, drained: true },
      { time: epoch(7250), level: 'info', msg: 'shutdown complete', exit_code: 0 },
    ],
    serviceWarnings: [],
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The must-checks a recording fails, in the report's order (analyze() given a frozen recording: it must not write to it). */
function failedMustChecks(recording: Recording): string[] {
  return analyze(deepFreeze(recording))
    .checks.filter((c) => c.must && !c.ok)
    .map((c) => c.name);
}

function request(recording: Recording, match: (r: RequestRecord) => boolean): RequestRecord {
  const found = [...recording.requests, ...recording.readiness].find(match);
  assert.ok(found, 'the clean recording has that request');
  return found;
}
const postInFlight = (rec: Recording) => request(rec, (r) => r.kind === 'post_message' && (r.writtenAt as number) < SIGTERM_AT);

interface Violation {
  requirement: string;
  plant(recording: Recording): void;
  fails: string[];
}

const violations: Violation[] = [
  {
    requirement: 'a request written before SIGTERM must be answered: a post the drain cut off fails',
    plant(rec) {
      const post = postInFlight(rec);
      delete post.responseAt;
      delete post.status;
      Object.assign(post, { outcome: 'reset_fresh', endAt: at(2001), error: 'ECONNRESET socket hang up' });
    },
    fails: [CHECK.beforeFailed],
  },
  {
    requirement: 'a request written before SIGTERM must be answered: a reset of its reused keep-alive socket is no excuse',
    plant(rec) {
      const get = request(rec, (r) => r.kind === 'me' && r.reused && (r.writtenAt as number) < SIGTERM_AT);
      delete get.responseAt;
      delete get.status;
      Object.assign(get, { outcome: 'reset_reused', error: 'ECONNRESET socket hang up' });
    },
    fails: [CHECK.beforeFailed],
  },
  {
    requirement: 'a readiness poll written before SIGTERM must be answered too',
    plant(rec) {
      const poll = request(rec, (r) => r.kind === 'readyz' && r.status === 200);
      delete poll.responseAt;
      delete poll.status;
      Object.assign(poll, { outcome: 'timeout', endAt: at(30_000), error: 'BENCH_TIMEOUT bench timeout' });
    },
    fails: [CHECK.beforeFailed],
  },
  {
    requirement: 'a request sent during the delay must be served: a 500 fails',
    plant(rec) {
      Object.assign(
        request(rec, (r) => r.kind === 'conversations' && r.outcome === 'served'),
        { outcome: 'http_error', status: 500, body: '{"code":"internal"}' },
      );
    },
    fails: [CHECK.otherFailures],
  },
  {
    requirement: 'a request sent during the delay must be served: a response cut in the middle fails',
    plant(rec) {
      Object.assign(
        request(rec, (r) => r.kind === 'post_message' && (r.writtenAt as number) > SIGTERM_AT),
        { outcome: 'response_cut', error: 'ECONNRESET aborted' },
      );
    },
    fails: [CHECK.otherFailures],
  },
  {
    requirement: 'every SSE stream must end with shutting_down: a stream cut without a terminal event fails',
    plant(rec) {
      const stream = rec.streams[1] as StreamRecord;
      delete stream.shuttingDownAt;
      Object.assign(stream, {
        events: ['message'],
        last: { event: 'delta', data: { text: 'moat' } },
        endAt: at(2100),
        end: 'closed before its end',
      });
    },
    fails: [CHECK.streamsShuttingDown, CHECK.streamsOtherwise],
  },
  {
    requirement: 'every SSE stream must end cleanly after shutting_down: one reset after the event fails',
    plant(rec) {
      Object.assign(rec.streams[2] as StreamRecord, { end: 'ECONNRESET aborted' });
    },
    fails: [CHECK.streamsShuttingDown, CHECK.streamsOtherwise],
  },
  {
    requirement: 'every SSE stream must end with shutting_down: a stream whose last event is not the error fails',
    plant(rec) {
      Object.assign(rec.streams[0] as StreamRecord, { events: ['message', 'error', 'done'], last: { event: 'done', data: {} } });
    },
    fails: [CHECK.streamsShuttingDown, CHECK.streamsOtherwise],
  },
  {
    requirement: 'the service must exit 0: exit code 1 fails',
    plant(rec) {
      rec.exit = { at: at(7300), code: 1, signal: null };
    },
    fails: [CHECK.exitCode],
  },
  {
    requirement: 'the service must exit 0: killed by a signal fails',
    plant(rec) {
      rec.exit = { at: at(24_000), code: null, signal: 'SIGKILL' };
    },
    fails: [CHECK.exitCode],
  },
  {
    requirement: 'readiness must turn 503 within the limit: a first 503 150 ms after SIGTERM fails',
    plant(rec) {
      Object.assign(
        request(rec, (r) => r.status === 503),
        { responseAt: at(150), endAt: at(150.2) },
      );
    },
    fails: [CHECK.readyFlip],
  },
  {
    requirement: 'readiness must turn 503: a service that never answers 503 fails',
    plant(rec) {
      request(rec, (r) => r.status === 503).status = 200;
    },
    fails: [CHECK.readyFlip],
  },
  {
    requirement: 'the service must not destroy an accepted connection with its request unread',
    plant(rec) {
      // The trace lists the port accepted after the connection was opened: the service had it.
      rec.acceptTrace?.accepted.push([QUEUED_PORT, epoch(1999.8)]);
    },
    fails: [CHECK.otherFailures, CHECK.destroyedUnread],
  },
  {
    requirement: 'an accept up to 1 ms before the connection opened still counts as this connection (clock slack)',
    plant(rec) {
      // Opened at 1999.4 ms: floor on the epoch clock is 1999, less 1 ms of slack.
      rec.acceptTrace?.accepted.push([QUEUED_PORT, epoch(1998)]);
    },
    fails: [CHECK.otherFailures, CHECK.destroyedUnread],
  },
  {
    requirement: 'a reset older than the whole accept trace is not excused as an accept-queue reset',
    plant(rec) {
      if (rec.acceptTrace) rec.acceptTrace.accepted = [[41300, epoch(2000)]];
    },
    fails: [CHECK.otherFailures],
  },
  {
    requirement: "the server's accept trace must be found, and without it no reset is excused",
    plant(rec) {
      rec.acceptTrace = null;
    },
    fails: [CHECK.otherFailures, CHECK.trace],
  },
  {
    requirement: 'every stream must still be open at SIGTERM: a reply that finished before it fails',
    plant(rec) {
      const stream = rec.streams[0] as StreamRecord;
      delete stream.shuttingDownAt;
      Object.assign(stream, { events: ['message', 'done'], last: { event: 'done', data: {} }, endAt: at(-100), end: 'end' });
    },
    fails: [CHECK.streamsShuttingDown, CHECK.streamsOtherwise, CHECK.streamsOpen],
  },
  {
    requirement: 'some requests must be in flight at SIGTERM: a run where all had ended fails',
    plant(rec) {
      for (const r of rec.requests)
        if (r.writtenAt !== undefined && r.writtenAt < SIGTERM_AT) Object.assign(r, { responseAt: at(-1.5), endAt: at(-1) });
    },
    fails: [CHECK.inFlight, CHECK.postsInFlight],
  },
  {
    requirement: 'a non-streaming post must be in flight at SIGTERM: a run with only GETs in flight fails',
    plant(rec) {
      Object.assign(postInFlight(rec), { responseAt: at(-10), endAt: at(-9) });
    },
    fails: [CHECK.postsInFlight],
  },
  {
    requirement: 'a non-streaming post must be sent during the delay',
    plant(rec) {
      rec.requests = rec.requests.filter((r) => !(r.kind === 'post_message' && (r.writtenAt as number) > SIGTERM_AT));
    },
    fails: [CHECK.postsInDelay],
  },
  {
    requirement: 'connections must be refused after the listener closed',
    plant(rec) {
      rec.requests = rec.requests.filter((r) => r.outcome !== 'refused');
      rec.readiness = rec.readiness.filter((r) => r.outcome !== 'refused');
    },
    fails: [CHECK.refusals],
  },
];

describe('analyze(): the shutdown bench judges a recording', () => {
  it('a clean shutdown passes every check, each named as the report names it', () => {
    const { checks } = analyze(deepFreeze(cleanRecording()));
    assert.deepEqual(
      checks.map((c) => [c.name, c.must]),
      [...MUST_CHECKS.map((name) => [name, true]), ...REPORTED.map((name) => [name, false])],
    );
    assert.deepEqual(
      checks.filter((c) => !c.ok),
      [],
    );
  });

  it('a clean shutdown reports the accept-queue reset and the reused-socket reset apart, as expected outcomes', () => {
    const { checks, figures } = analyze(deepFreeze(cleanRecording()));
    assert.deepEqual(
      checks.filter((c) => !c.must).map((c) => c.detail),
      [1, 1],
    );
    const [unaccepted] = figures.requests.reset_in_accept_queue_at_listener_close;
    assert.equal(unaccepted?.client_port, QUEUED_PORT);
    assert.equal(unaccepted?.outcome, 'reset_unaccepted');
    assert.equal(figures.requests.retryable_reset_reused_keepalive[0]?.outcome, 'reset_reused');
    assert.equal(figures.readiness.first_503_ms, 8);
    assert.equal(figures.sse.open_at_sigterm, 3);
    assert.equal(figures.listener_closed_ms, 2002);
  });

  for (const v of violations) {
    it(`${v.requirement} (fails: ${v.fails.join('; ')})`, () => {
      const recording = cleanRecording();
      v.plant(recording);
      assert.deepEqual(failedMustChecks(recording), v.fails);
    });
  }

  it('every must-check fails on one of the planted violations', () => {
    const covered = new Set(violations.flatMap((v) => v.fails));
    assert.deepEqual(
      MUST_CHECKS.filter((name) => !covered.has(name)),
      [],
    );
  });

  it('a client port reused from an earlier connection does not prove an accept: the reset stays an accept-queue reset', () => {
    const recording = cleanRecording();
    // The port's only accept in the trace came 2 ms (beyond the 1 ms slack) before this connection opened.
    recording.acceptTrace?.accepted.push([QUEUED_PORT, epoch(1997)]);
    assert.deepEqual(failedMustChecks(recording), []);
    const { figures } = analyze(recording);
    assert.deepEqual(
      figures.requests.reset_in_accept_queue_at_listener_close.map((r) => r.client_port),
      [QUEUED_PORT],
    );
  });

  it('readiness turning 503 exactly at the limit passes', () => {
    const recording = cleanRecording();
    Object.assign(
      request(recording, (r) => r.status === 503),
      { responseAt: at(100), endAt: at(100.2) },
    );
    assert.deepEqual(failedMustChecks(recording), []);
  });

  it('judges a recording the same after a JSON round trip (a Recording is plain data)', () => {
    const recording = cleanRecording();
    assert.deepEqual(analyze(JSON.parse(JSON.stringify(recording)) as Recording), analyze(recording));
  });
});
