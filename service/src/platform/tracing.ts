import type { IncomingMessage } from 'node:http';

/**
 * OpenTelemetry tracing — optional, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
 *
 * Started by the tracing-preload.mjs preload (package.json "start"), before any application module
 * loads: instrumentations patch pg, ioredis and koa when those are first loaded, so starting the SDK
 * from main.ts would be too late. Every SDK module is imported lazily inside `startTracing`, so this
 * file is cheap to import and, with tracing off, nothing of the SDK enters the module graph
 * (test/service/platform/tracing.test.ts checks both).
 *
 * The SDK reads its settings from the standard OTEL_* variables (OpenTelemetry's own contract):
 * OTEL_EXPORTER_OTLP_ENDPOINT (spans go to `<endpoint>/v1/traces`, OTLP/HTTP JSON),
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_SCHEDULE_DELAY / _MAX_QUEUE_SIZE, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED.
 */

export interface TracingOptions {
  serviceVersion: string;
}

interface Running {
  shutdown(): Promise<void>;
}

let running: Running | undefined;

/** Requests that would only add noise: probes and scrapes, several a minute per pod. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Longest the exporter may take to flush at shutdown, so an unreachable collector cannot hold the stop. */
const FLUSH_TIMEOUT_MS = 3000;

/** Registers the tracer provider (BatchSpanProcessor → OTLP/HTTP) and the instrumentations. */
export async function startTracing(options: TracingOptions): Promise<void> {
  if (running) return;
  const [{ NodeSDK }, { resourceFromAttributes }, { OTLPTraceExporter }, http, ioredis, koa, pg] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-koa'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'rampart', 'service.version': options.serviceVersion }),
    // Given an exporter, the SDK wraps it in a BatchSpanProcessor configured by OTEL_BSP_*.
    traceExporter: new OTLPTraceExporter(),
    // Traces only: the SDK would otherwise start OTLP metric and log exporters by default
    // (metrics are Prometheus' job here, logs go to stdout).
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new http.HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
        requireParentforOutgoingSpans: true,
      }),
      // Sets `http.route` (and the server span's name) to the matched route template — never the raw
      // path. Only routed layers get spans; the generic middleware stack would be a dozen per request.
      new koa.KoaInstrumentation({ ignoreLayersType: [koa.KoaLayerType.MIDDLEWARE] }),
      // Query text only (placeholders, never values); no spans for queries outside a request (migrations).
      new pg.PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
      // The command name alone: rate-limit and lockout keys hold client IPs and e-mail addresses.
      new ioredis.IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
    ],
  });
  sdk.start();
  running = sdk;
}

/** True once `startTracing` ran in this process (main.ts warns when the endpoint is set but it did not). */
export function tracingStarted(): boolean {
  return running !== undefined;
}

/** Flushes pending spans and stops the SDK; bounded in time, never throws. No-op when tracing is off. */
export async function stopTracing(): Promise<void> {
  const sdk = running;
  if (!sdk) return;
  running = undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
    timer.unref();
  });
  await Promise.race([sdk.shutdown().catch(() => undefined), timeout]);
  clearTimeout(timer);
}
