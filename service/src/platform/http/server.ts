import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import { type ErrorCode, errorCatalogue } from '../errors.js';
import { PROBLEM_CONTENT_TYPE, problemType } from './problem.js';
import { PERMISSIONS_POLICY } from './security-headers.js';
import { secureContextOptions, type TlsPair } from './tls.js';

export interface HttpServerOptions {
  /** Time allowed to receive the request headers (slowloris defence). */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request. */
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxHeaderSize?: number;
  /**
   * Serve HTTPS with this certificate and key (TLS_CERT_FILE / TLS_KEY_FILE; TLS 1.2+ only) instead of
   * HTTP. The result is then an https.Server, whose certificate TlsReloader replaces.
   */
  tls?: TlsPair;
}

/** An http.Server (an https.Server with `tls`) for the Koa app with explicit, conservative timeouts. */
export function createHttpServer(app: Koa, options: HttpServerOptions = {}): Server {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const serverOptions: ServerOptions = {
    maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // Node enforces both deadlines only when it sweeps its connections (every 30 s by default), so a
    // slowloris client would keep a socket for up to headersTimeout + 30 s. Sweep at a quarter of it.
    connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(headersTimeout / 4))),
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, ...secureContextOptions(options.tls) }, app.callback())
    : createServer(serverOptions, app.callback());
  server.headersTimeout = headersTimeout;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  server.on('clientError', answerClientError);
  // An HTTPS server's requests arrive on the TLS socket ('secureConnection'), not on the TCP one.
  trackConnections(server, Math.min(1000, headersTimeout), options.tls ? 'secureConnection' : 'connection');
  return server;
}

interface Connection {
  /** Requests being answered on it now. */
  inFlight: number;
  /** Requests it has carried. */
  served: number;
  /** socket.bytesRead when it last became idle: more than this, and a request is arriving. */
  bytesAtIdle: number;
}

const draining = new WeakSet<Server>();

/**
 * Drains without dropping a request a client has already sent. Node's `server.close()` destroys every
 * connection its parser sees as idle — and a connection accepted a moment ago, whose request is still
 * in the kernel's buffer, is "idle" to it: the client gets a reset for a request it wrote before the
 * listener closed (bench:shutdown saw one on Node 26, the "connections destroyed with a request
 * unread" check). So this server replaces `closeIdleConnections` for its own sockets: an idle
 * keep-alive connection with nothing new to read is closed at once, as before; one that has bytes to
 * read, or has served nothing yet, gets `freshMs` to deliver its request, which is answered with
 * `Connection: close` (closeConnectionsWhenDraining); a connection that goes idle while draining is
 * ended. A client that connected and says nothing is cut after `freshMs`.
 */
function trackConnections(server: Server, freshMs: number, event: 'connection' | 'secureConnection'): void {
  const connections = new Map<Socket, Connection>();
  server.on(event, (socket: Socket) => {
    connections.set(socket, { inFlight: 0, served: 0, bytesAtIdle: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (req, res) => {
    const connection = connections.get(req.socket);
    if (!connection) return;
    connection.inFlight += 1;
    connection.served += 1;
    res.once('close', () => {
      connection.inFlight -= 1;
      connection.bytesAtIdle = req.socket.bytesRead;
      if (draining.has(server) && connection.inFlight === 0) req.socket.end();
    });
  });
  const closeIdle = (socket: Socket, connection: Connection) => {
    if (connection.inFlight > 0 || socket.bytesRead > connection.bytesAtIdle) return false;
    if (connection.served === 0) return false;
    socket.destroy();
    return true;
  };
  server.closeIdleConnections = () => {
    draining.add(server);
    for (const [socket, connection] of connections) {
      if (closeIdle(socket, connection) || connection.inFlight > 0) continue;
      // Fresh, or a request on its way: give it a moment to arrive; it is answered, then closed.
      setTimeout(() => {
        if (connection.inFlight === 0 && socket.bytesRead === connection.bytesAtIdle && !socket.destroyed) socket.destroy();
      }, freshMs).unref();
    }
  };
}

/**
 * The security headers of securityHeaders(), for the answers written below Koa (the same values;
 * test/reliability/http-abuse.test.ts compares the two).
 */
const RAW_SECURITY_HEADERS = [
  'Strict-Transport-Security: max-age=31536000; includeSubDomains; preload',
  "Content-Security-Policy: default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
  'X-Content-Type-Options: nosniff',
  'X-Frame-Options: DENY',
  'Referrer-Policy: no-referrer',
  `Permissions-Policy: ${PERMISSIONS_POLICY}`,
  'Cross-Origin-Opener-Policy: same-origin',
  'Cross-Origin-Resource-Policy: same-origin',
  'Cache-Control: no-store',
];

/**
 * What Node's HTTP parser refuses before Koa sees a request (malformed request line or headers,
 * headers over maxHeaderSize, the headers/request deadline) is answered like every other error:
 * problem+json with a code and a request id, then the connection is closed. Node's own default
 * answer is a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // Node's own condition (lib/_http_server.js socketOnError): no response in flight on this
  // connection, or one whose head has not been written yet — anything else would corrupt the stream.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const code: ErrorCode =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'request_header_fields_too_large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'request_timeout'
          : 'bad_request';
    const { status, title } = errorCatalogue[code];
    const requestId = randomUUID();
    const body = JSON.stringify({ type: problemType(code), title, status, code, request_id: requestId });
    const head = [
      `HTTP/1.1 ${status} ${title}`,
      `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      `X-Request-Id: ${requestId}`,
      ...RAW_SECURITY_HEADERS,
    ];
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy();
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
