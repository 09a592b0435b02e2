import { fmt, table } from '../lib/stats.js';
import { type OutcomeCounts, OUTCOMES, type ShutdownAnalysis } from './analyze.js';
import type { Recording } from './recording.js';

/** The bench's printed report of one analysed run (no I/O: the caller prints it). */
export function formatReport(recording: Recording, analysis: ShutdownAnalysis, env: { cpus: number }): string {
  const { config, prompts } = recording;
  const { checks, figures } = analysis;
  const { requests, sse, timings } = figures;
  const out: string[] = [];
  const postMs = (prompts.postReplyWords - 1) * config.modelDelayMs;
  const streamMs = (prompts.streamReplyWords - 1) * config.modelDelayMs;
  out.push(
    `\nbench:shutdown — ${recording.database}, ${env.cpus} CPUs; SHUTDOWN_DELAY_MS=${config.delayMs} SHUTDOWN_GRACE_MS=${config.graceMs} BUILTIN_MODEL_DELAY_MS=${config.modelDelayMs}`,
  );
  out.push(
    `load: ${config.getLoops} GET loops (/v1/me, /v1/conversations) on one keep-alive agent; a non-streaming POST …/messages every ${config.postIntervalMs} ms (reply ${prompts.postReplyWords} words ≈ ${fmt(postMs / 1000)} s) on another; /readyz every ${config.readyPollMs} ms; ${config.streams} SSE streams (reply ${prompts.streamReplyWords} words ≈ ${fmt(streamMs / 1000)} s); SIGTERM after ${config.loadMs} ms`,
  );
  out.push('\nrequests by when they were written (ms relative to SIGTERM) and how they ended (readiness polls excluded):');
  const closedLabel = fmt(figures.listener_closed_ms ?? Number.NaN, 0);
  const total = (c: OutcomeCounts) => OUTCOMES.reduce((sum, o) => sum + c[o], 0);
  const phaseRow = (label: string, c: OutcomeCounts) => [label, total(c), ...OUTCOMES.map((o) => c[o])];
  const ready = requests.readyz_by_phase;
  const readyAll = Object.fromEntries(
    OUTCOMES.map((o) => [o, ready.before[o] + ready.delay[o] + ready.after[o]]),
  ) as OutcomeCounts;
  out.push(
    table(
      ['written', 'sent', ...OUTCOMES],
      [
        phaseRow('before SIGTERM', requests.by_phase.before),
        phaseRow(`in the delay (0 … ${closedLabel})`, requests.by_phase.delay),
        phaseRow(`after listener close (${closedLabel} …)`, requests.by_phase.after),
        phaseRow('/readyz polls, all phases', readyAll),
      ],
    ),
  );
  const inFlight = requests.in_flight_at_sigterm;
  out.push(
    `in flight at SIGTERM: ${inFlight.total} (${Object.entries(inFlight.by_kind)
      .map(([k, v]) => `${k} ${v.served}/${v.in_flight} served`)
      .join(', ')})`,
  );
  const delay = requests.sent_during_delay;
  out.push(
    `sent in the delay: ${delay.total}, ${delay.served} served (POST …/messages ${delay.post_message_served}/${delay.post_message}); GET latency p50 ${fmt(delay.get_latency_ms.p50)} ms, p99 ${fmt(delay.get_latency_ms.p99)} ms; answers after SIGTERM without Connection: close: ${requests.answered_after_sigterm_without_connection_close}`,
  );
  const streamEndMs = sse.shutting_down_after_sigterm_ms;
  const others = sse.ended_otherwise;
  out.push(
    `SSE: ${sse.ended_shutting_down} of ${sse.streams} ended with event: error shutting_down (${fmt(streamEndMs.p50)} ms p50, ${fmt(streamEndMs.max)} ms max after SIGTERM), ${others.length} otherwise${
      others.length ? `: ${others.map((s) => `${s.last_event ?? 'no event'}/${s.end}`).join(', ')}` : ''
    }`,
  );
  out.push(`service, answers after SIGTERM by status: ${JSON.stringify(requests.service_answers_after_sigterm)}`);
  out.push('\ntimeline (ms after SIGTERM):');
  const ms = (x: number | null | undefined) => fmt(x ?? Number.NaN);
  out.push(
    table(
      ['event', 'ms'],
      [
        ['service logged "shutdown started"', ms(timings.service_log.shutdown_started_ms)],
        ['first /readyz 503 received', ms(timings.ready_503_ms)],
        ['last TCP handshake completed (client side)', ms(timings.last_fresh_connection_ms)],
        ['listener closed (service-side trace)', ms(timings.listener_closed_ms)],
        ['first ECONNREFUSED attempt', ms(timings.first_refused_attempt_ms)],
        ['last response completed', ms(timings.last_response_ms)],
        [
          `drain took (service log, drained=${timings.service_log.drained})`,
          ms(Number(timings.service_log.drain_ms ?? Number.NaN)),
        ],
        ['process exit', ms(timings.exit_ms)],
      ],
    ),
  );
  const { code, signal } = figures.exit;
  out.push(
    `exit code ${code ?? `(signal ${signal})`}; service errors logged (access-log 5xx lines aside): ${figures.service_errors.length}; warnings on stderr: ${figures.service_warnings.length}`,
  );
  for (const w of figures.service_warnings.slice(0, 3)) out.push(`  ${w.slice(0, 200)}`);
  out.push('\nchecks:');
  out.push(
    table(
      ['check', 'value', ''],
      checks.map((c) => [c.name, String(c.detail), c.ok ? 'ok' : c.must ? 'FAIL' : '!']),
    ),
  );
  const unaccepted = requests.reset_in_accept_queue_at_listener_close;
  const retryable = requests.retryable_reset_reused_keepalive;
  const show = [...requests.failed_before_sigterm, ...requests.other_failures, ...unaccepted, ...retryable].slice(0, 20);
  if (show.length) {
    out.push('\nrequests not served (first 20):');
    for (const r of show) {
      out.push(
        `  ${r.kind} ${r.outcome}: created ${ms(r.created_ms)} written ${ms(r.written_ms)} connected ${ms(r.connected_ms)} ended ${ms(r.ended_ms)} reused=${r.reused} client port ${r.client_port ?? '-'} status ${r.status ?? '-'} ${r.error ?? ''} ${r.body ?? ''}`,
      );
    }
  }
  if (unaccepted.length) {
    out.push(
      `\n${unaccepted.length} request(s) connected in the last moment before the listener closed: the kernel had completed the TCP handshake (the connection sat in the listen socket's accept queue) but the service had not accepted it yet; closing the listener resets such connections (the service's trace does not list their client ports). The service never read them — a refusal one TCP step later. Load balancers avoid it by removing the endpoint during SHUTDOWN_DELAY_MS.`,
    );
  }
  if (retryable.length) {
    out.push(
      `\n${retryable.length} request(s) were written on an idle keep-alive socket the server closed at the same moment (no response): the keep-alive race every HTTP client must retry (Node flags them req.reusedSocket).`,
    );
  }
  return out.join('\n');
}

/** A must-check missed: the run fails. */
export function failedChecks(analysis: ShutdownAnalysis) {
  return analysis.checks.filter((c) => c.must && !c.ok);
}

/** The results file (bench/results/shutdown.json, or BENCH_SHUTDOWN_OUT). */
export function resultsDocument(
  recording: Recording,
  analysis: ShutdownAnalysis,
  meta: { at: string; cpus: number; runSeconds: number },
): Record<string, unknown> {
  const { config, prompts } = recording;
  const { figures } = analysis;
  return {
    at: meta.at,
    database: recording.database,
    cpus: meta.cpus,
    config: {
      SHUTDOWN_DELAY_MS: config.delayMs,
      SHUTDOWN_GRACE_MS: config.graceMs,
      BUILTIN_MODEL_DELAY_MS: config.modelDelayMs,
      streams: config.streams,
      get_loops: config.getLoops,
      post_interval_ms: config.postIntervalMs,
      load_ms_before_sigterm: config.loadMs,
      ready_poll_ms: config.readyPollMs,
      post_reply_words: prompts.postReplyWords,
      stream_reply_words: prompts.streamReplyWords,
    },
    requests: figures.requests,
    readiness: figures.readiness,
    sse: figures.sse,
    listener_close_trace: figures.listener_close_trace,
    timings: figures.timings,
    exit: figures.exit,
    service_errors: figures.service_errors,
    service_warnings: figures.service_warnings,
    // The file's own shape for a check (test and tools read name, value, must, pass).
    checks: analysis.checks.map((c) => ({ name: c.name, value: c.detail, must: c.must, pass: c.ok })),
    pass: failedChecks(analysis).length === 0,
    run_seconds: meta.runSeconds,
  };
}
