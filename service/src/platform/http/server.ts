import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface HttpServerOptions {
  /** Time allowed to receive the request headers (slowloris defence). */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request. */
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxHeaderSize?: number;
}

/** An http.Server for the Koa app with explicit, conservative timeouts. */
export function createHttpServer(app: Koa, options: HttpServerOptions = {}): Server {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const server = createServer(
    {
      maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      // Node enforces both deadlines only when it sweeps its connections (every 30 s by default), so a
      // slowloris client would keep a socket for up to headersTimeout + 30 s. Sweep at a quarter of it.
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(headersTimeout / 4))),
    },
    app.callback(),
  );
  server.headersTimeout = headersTimeout;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  return server;
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting connections and waits for in-flight requests to finish, up to `graceMs`; then
 * cuts whatever is left. Idle keep-alive connections are closed at once; busy ones are closed as
 * soon as their response ends (responses sent after shutdown began carry `Connection: close`).
 * Resolves true when everything drained in time.
 */
export function drainServer(server: Server, graceMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve(true);
      return;
    }
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      server.closeAllConnections();
      resolve(false);
    }, graceMs);
    timer.unref();
    server.close(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(true);
    });
    server.closeIdleConnections();
  });
}
