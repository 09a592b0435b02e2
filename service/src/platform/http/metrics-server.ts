import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Registry } from 'prom-client';
import { secureContextOptions, type TlsPair } from './tls.js';

/**
 * The metrics listener, separate from the API port so /metrics is never reachable through the
 * ingress. Anything but GET /metrics is 404. With `tls` (TLS_CERT_FILE / TLS_KEY_FILE) it serves
 * HTTPS with the API's certificate, so Prometheus scrapes it over TLS.
 */
export function createMetricsServer(registry: Registry, tls?: TlsPair): Server {
  const handler: RequestListener = (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'),
    );
  };
  return tls ? createHttpsServer(secureContextOptions(tls), handler) : createServer(handler);
}
