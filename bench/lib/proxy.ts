/**
 * A small round-robin HTTP load balancer (nginx is not installed here), run in its own process by
 * bench/scale.ts: each request goes to the next of BACKENDS (comma-separated base URLs) over
 * keep-alive connections; responses, SSE included, are streamed back as they come.
 */
import { Agent, createServer, request } from 'node:http';
import { announce } from './child.js';

const backends = (process.env.BACKENDS ?? '').split(',').filter(Boolean).map((u) => new URL(u));
if (backends.length === 0) throw new Error('BACKENDS is empty');
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
let next = 0;

const server = createServer((req, res) => {
  const target = backends[next++ % backends.length] as URL;
  const upstream = request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0, async () => {
    server.closeAllConnections();
    agent.destroy();
  });
});
