/**
 * Starts OpenTelemetry tracing before the application loads — imported by bin/boot.js (the boot of
 * `npm start` and of the image) before main. Without OTEL_EXPORTER_OTLP_ENDPOINT it does nothing
 * and imports nothing: tracing off costs nothing.
 *
 * Why before main: instrumentations patch a module when it is first loaded. pg is `require`d by knex,
 * which require-in-the-middle sees once the SDK has started; but koa and ioredis are imported from
 * ES modules, which only import-in-the-middle's loader hook can wrap, and a loader hook applies to
 * modules loaded after it is registered — so both must happen before main.ts is loaded.
 * The hook wraps only the modules listed (the rest of the graph, our .ts files included, is left
 * alone). `node:http` needs no hook: its Server prototype is patched when the SDK first requires it.
 *
 * Like bin/boot.js this reads process.env directly, the one exception to "only config reads the
 * environment": it runs before the application exists. config/settings.ts still validates the
 * variable, and main.ts flushes the exporter on shutdown.
 */
if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  const { register } = await import('node:module');
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['koa', 'ioredis'] } });
  const { readBuildInfo } = await import('./build-info.js');
  const { startTracing } = await import('./tracing.js');
  await startTracing({ serviceVersion: readBuildInfo().version });
}
