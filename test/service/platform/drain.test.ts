import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import Koa from 'koa';
import { createHttpServer, drainServer, listen } from '../../../service/src/platform/http/server.js';

/** A server of the service's kind answering "ok", listening on a free port. */
async function okServer(t: import('node:test').TestContext) {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = 'ok';
  });
  const server = createHttpServer(app, { headersTimeoutMs: 2000 });
  const { port } = await listen(server, 0, '127.0.0.1');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port };
}

/** Everything the peer sends until it closes. */
function readAll(socket: import('node:net').Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
}

describe('draining the listener', () => {
  it('answers a request sent on a connection accepted just before the drain began (not a reset)', async (t) => {
    const { server, port } = await okServer(t);
    const accepted = once(server, 'connection');
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const reply = readAll(socket);
    await accepted; // the server holds the connection; its request has not arrived yet
    const drained = drainServer(server, 5000);
    socket.write('GET / HTTP/1.1\r\nHost: rampart.test\r\n\r\n');
    assert.match(await reply, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    assert.equal(await drained, true, 'drained within the grace period');
  });

  it('closes an idle keep-alive connection at once, and cuts a connection that never sends a request', async (t) => {
    const { server, port } = await okServer(t);
    const keepAlive = connect(port, '127.0.0.1');
    const silent = connect(port, '127.0.0.1');
    const silentConnected = once(silent, 'connect');
    t.after(() => {
      keepAlive.destroy();
      silent.destroy();
    });
    const keepAliveClosed = once(keepAlive, 'close');
    const silentClosed = once(silent, 'close');
    keepAlive.write('GET / HTTP/1.1\r\nHost: rampart.test\r\n\r\n');
    await once(keepAlive, 'data'); // served; now idle, kept alive
    await silentConnected;
    const started = performance.now();
    assert.equal(await drainServer(server, 5000), true);
    await keepAliveClosed;
    await silentClosed;
    // The silent client gets the fresh-connection allowance (min(1 s, headers timeout)), not the grace.
    assert.ok(performance.now() - started < 4000);
  });
});
