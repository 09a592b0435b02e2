import type { SseStreamRecord } from '../lib/sse-client.js';

/**
 * What one run of the shutdown scenario saw, as plain data (JSON round-trips it): the scenario
 * (scenario.ts) fills it through the recorder (recorder.ts), analyze.ts judges it.
 *
 * Two clocks: `*At` fields are the load generator's monotonic clock (performance.now() ms, any
 * origin); the service's log and its accept trace are epoch ms (Date.now()). `sigterm` holds both
 * readings of the one instant SIGTERM was sent, which maps one clock onto the other.
 */

/** The scenario's knobs (the BENCH_* and service settings of one run). */
export interface ShutdownConfig {
  /** SHUTDOWN_DELAY_MS: listener open, readiness 503. */
  delayMs: number;
  /** SHUTDOWN_GRACE_MS: in-flight requests may finish. */
  graceMs: number;
  /** BUILTIN_MODEL_DELAY_MS: per word of a builtin model reply. */
  modelDelayMs: number;
  /** SSE streams open through SIGTERM. */
  streams: number;
  /** Closed GET loops on one keep-alive agent. */
  getLoops: number;
  /** A non-streaming POST …/messages every this many ms. */
  postIntervalMs: number;
  postMaxInFlight: number;
  /** Load before SIGTERM. */
  loadMs: number;
  readyPollMs: number;
  /** /readyz must answer 503 within this many ms of SIGTERM. */
  readyFlipMaxMs: number;
}

export type RequestKind = 'me' | 'conversations' | 'post_message' | 'readyz';

/** How a request ended, as its client saw it. */
export type ObservedOutcome =
  | 'served' // a complete response with an expected status
  | 'http_error' // a complete response with another status
  | 'refused' // ECONNREFUSED: nothing listens
  | 'reset_reused' // reset / hang-up before any response on a reused keep-alive socket (retryable)
  | 'reset_fresh' // reset / hang-up before any response on a connection opened for this request
  | 'response_cut' // the response started but did not end
  | 'timeout'
  | 'other';

/** One request, recorded by its client. */
export interface RequestRecord {
  kind: RequestKind;
  createdAt: number;
  /** The request (headers and body) was handed to the socket. */
  writtenAt?: number;
  /** A fresh socket finished its TCP handshake. */
  connectedAt?: number;
  /** The client's port: finds the connection in a packet capture or the server's accept trace. */
  localPort?: number;
  reused: boolean;
  responseAt?: number;
  endAt: number;
  status?: number;
  connectionClose?: boolean;
  outcome: ObservedOutcome;
  error?: string;
  body?: string;
}

/** One SSE stream: what the shared SSE client recorded, and when `event: error` `shutting_down` came. */
export interface StreamRecord extends SseStreamRecord {
  shuttingDownAt?: number;
}

/**
 * The server-side witness (bench/lib/shutdown-probe.cjs, preloaded into the service): the line it
 * wrote when the API listener closed.
 */
export interface AcceptTrace {
  /** Epoch ms of the listener's close. */
  time: number;
  /** [client port, epoch ms] of the last connections the server accepted, oldest first. */
  accepted: [number, number][];
  /** The connections Node's parser saw as idle at that moment. */
  idle: { port: number | null; bytes_read: number | null; responding: boolean }[];
}

/** One JSON line of the service's log. */
export interface ServiceLogLine {
  /** Epoch ms (the service logs ISO times). */
  time: number;
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Recording {
  config: ShutdownConfig;
  /** The database the service ran on, described. */
  database: string;
  /** Reply lengths (words) of the builtin model for the prompts used. */
  prompts: { postReplyWords: number; streamReplyWords: number };
  /** Every stream had opened (its first event had arrived). */
  streamsOpenedAt: number;
  sigterm: { at: number; epoch: number };
  exit: { at?: number; code: number | null; signal: string | null };
  /** The load: GETs and non-streaming posts, in the order they ended. */
  requests: RequestRecord[];
  /** The /readyz polls, in the order they ended. */
  readiness: RequestRecord[];
  streams: StreamRecord[];
  /** null when the service wrote none. */
  acceptTrace: AcceptTrace | null;
  serviceLog: ServiceLogLine[];
  /** Lines of the service's output with a runtime warning (`Warning:`). */
  serviceWarnings: string[];
}
