import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of `target`, whose forwarding the test can hold: a replication
 * link that stops delivering (a lagging or partitioned replica) without either end noticing. While
 * held, nothing more read from the target reaches the client; `close()` drops every connection, and
 * what was held back is gone with them.
 */
export interface TcpProxy {
  readonly port: number;
  /** Stop forwarding what the target sends (the client hears nothing more). */
  hold(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { port: number; host?: string }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let held = false;
  const upstreams = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host ?? '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    if (held) upstream.pause();
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    hold() {
      held = true;
      for (const u of upstreams) {
        u.unpipe();
        u.pause();
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
