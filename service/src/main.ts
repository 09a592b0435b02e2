import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';
import { hasSecretReferences, readDatabaseUrl, readJwtMaterial, resolveSecretReferences } from './config/references.js';
import { pickSource } from './config/settings.js';
import { createDatabaseUrlReloader } from './platform/database-url-reloader.js';
import { KeyringError, keyringSource } from './components/auth/index.js';
import { secretStoreFromEnv } from './platform/secrets/store.js';
import { buildDependencies } from './deps.js';
import { createHttpServer, listen } from './platform/http/server.js';
import { createMetricsServer } from './platform/http/metrics-server.js';
import { readTlsPair, TlsReloader, type TlsPair } from './platform/http/tls.js';
import { Server as TlsServer } from 'node:tls';
import { createLogger } from './platform/logger.js';
import { migrateOnStart } from './platform/migrations.js';
import { installFaultHook } from './platform/fault-hook.js';
import { createShutdown } from './platform/shutdown.js';
import { stopTracing, tracingStarted } from './platform/tracing.js';

/** Exit codes (sysexits.h): 0 clean stop, 1 start-up failure, 70 internal fault, 78 bad configuration. */
export const EXIT = { ok: 0, startupFailed: 1, software: 70, config: 78 } as const;

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadConfig>;
  // Builds no client until a reference needs one.
  const secretStore = secretStoreFromEnv(process.env);
  try {
    // *_REF variables (JWT_SECRET_REF, DATABASE_URL_REF, …) are read from their secret store first.
    const env = hasSecretReferences(process.env) ? await resolveSecretReferences(process.env, secretStore) : process.env;
    loaded = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`rampart: configuration error: ${problem}\n`);
      process.exit(EXIT.config);
    }
    throw err;
  }
  const { config, warnings } = loaded;
  const logger = createLogger({
    level: config.logLevel,
    pretty: config.env === 'development' && process.stdout.isTTY === true,
  });
  // The keyring's source, re-read every JWT_KEYS_RELOAD_INTERVAL_SECONDS and on SIGHUP (none for an
  // ephemeral development secret: there is nothing to re-read).
  const jwtSource = config.jwt.ephemeral ? undefined : keyringSource(() => readJwtMaterial(process.env, secretStore));
  let deps: Awaited<ReturnType<typeof buildDependencies>>;
  try {
    deps = await buildDependencies(config, logger, { keyringSource: jwtSource });
  } catch (err) {
    // e.g. a JWT_KEYS document that does not hold a usable signing key
    if (!(err instanceof KeyringError)) throw err;
    process.stderr.write(`rampart: configuration error: ${err.message}\n`);
    process.exit(EXIT.config);
  }
  logger.info(
    { ...deps.buildInfo, env: config.env, database: deps.db.kind, uv_threadpool_size: config.threadPoolSize ?? 4 },
    'rampart starting',
  );
  for (const warning of warnings) logger.warn(`WARNING: ${warning}`);
  if (config.otlpEndpoint && !tracingStarted()) {
    // Tracing must start before the instrumented modules load: only the preload can do it.
    logger.warn('OTEL_EXPORTER_OTLP_ENDPOINT is set, but tracing is off: start with the tracing preload (package.json "start")');
  }

  const app = buildApp(deps);
  // TLS_CERT_FILE / TLS_KEY_FILE: both listeners serve HTTPS (ingress → pod and Prometheus → pod TLS).
  let tlsPair: TlsPair | undefined;
  if (config.tls) {
    try {
      tlsPair = readTlsPair(config.tls);
    } catch (err) {
      process.stderr.write(`rampart: configuration error: cannot read TLS_CERT_FILE / TLS_KEY_FILE (${(err as NodeJS.ErrnoException).code ?? 'error'})\n`);
      process.exit(EXIT.config);
    }
  }
  let server: ReturnType<typeof createHttpServer>;
  let metricsServer: ReturnType<typeof createMetricsServer>;
  try {
    server = createHttpServer(app, {
      headersTimeoutMs: config.http.headersTimeoutMs,
      requestTimeoutMs: config.http.requestTimeoutMs,
      keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
      ...(tlsPair ? { tls: tlsPair } : {}),
    });
    metricsServer = createMetricsServer(deps.metrics.registry, tlsPair);
  } catch (err) {
    // A certificate or key that does not parse, or a key that does not match the certificate.
    process.stderr.write(`rampart: configuration error: TLS_CERT_FILE / TLS_KEY_FILE: ${(err as Error).message}\n`);
    process.exit(EXIT.config);
  }
  const tlsReloader =
    config.tls && tlsPair
      ? new TlsReloader(
          config.tls,
          [server, metricsServer].filter((s): s is typeof s & TlsServer => s instanceof TlsServer),
          tlsPair,
          { log: logger },
        )
      : undefined;
  tlsReloader?.start(config.tls?.reloadIntervalMs ?? 0);
  // DATABASE_URL from a file or a secret store is followed without a restart (a rotated password, a
  // promoted replica); an inline value cannot change.
  const databaseUrlSource = pickSource(process.env, 'DATABASE_URL').kind;
  const databaseUrlReloader =
    deps.db.kind === 'postgres' && (databaseUrlSource === 'file' || databaseUrlSource === 'ref')
      ? createDatabaseUrlReloader({
          db: deps.db,
          read: () => readDatabaseUrl(process.env, secretStore),
          intervalMs: config.database.urlReloadIntervalMs,
          logger,
        })
      : undefined;
  const shutdown = createShutdown({
    lifecycle: deps.lifecycle,
    logger,
    server,
    inFlight: deps.inFlight,
    auxiliaryServers: [metricsServer],
    delayMs: config.shutdown.delayMs,
    graceMs: config.shutdown.graceMs,
    closeDependencies: async () => {
      databaseUrlReloader?.stop();
      await deps.close();
      await stopTracing(); // flushes the spans still batched, including those of the drain
    },
    exit: (code) => process.exit(code),
  });

  installFaultHook(process, { logger, metrics: deps.metrics, shutdown, exitCode: EXIT.software });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void shutdown(EXIT.ok, signal));
  }
  // SIGHUP re-reads the keyring, the TLS certificate and DATABASE_URL (its default action would stop the process).
  process.on('SIGHUP', () => {
    tlsReloader?.reload();
    void databaseUrlReloader?.reload('signal');
    if (jwtSource) void deps.auth.reloadKeyring('signal');
    else logger.warn('SIGHUP: the JWT secret is ephemeral; there is no keyring to re-read');
  });

  try {
    if (config.database.migrateOnStart) {
      const applied = await migrateOnStart(deps.db, config.database);
      logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date');
    }
    const address = await listen(server, config.http.port, config.http.host);
    const metricsAddress = await listen(metricsServer, config.metrics.port, config.metrics.host);
    logger.info(
      { address: address.address, port: address.port, metrics_port: metricsAddress.port, metrics_address: metricsAddress.address, tls: tlsReloader !== undefined },
      'listening',
    );
    // The outbox is drained once the schema is known to be there (migrations above).
    deps.mail.start();
    logger.info({ transport: deps.mail.transportKind }, 'mail sender started');
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    await deps.close().catch(() => undefined);
    logger.flush();
    process.exit(EXIT.startupFailed);
  }
}

await main();
