import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from '../../helpers/private-postgres.js';

/**
 * An OpenAI-compatible upstream the fault tests control: its behaviour per request (`handler`), how
 * many requests reached it (`hits`), and whether it listens at all — `stop()` closes the port
 * (connection refused) and `start()` opens the same port again, so a spawned service configured
 * with its URL once sees it go down and come back. The reply shapes come from the component tests'
 * helper (test/service/components/chat/models/openai-compatible-server.ts).
 */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface FakeModel {
  readonly baseUrl: string;
  /** Requests that reached the server (a refused connection is not one). */
  readonly hits: number;
  handler: Handler;
  start(): Promise<void>;
  /** Closes the listener and every open connection: connecting is refused until start(). */
  stop(): Promise<void>;
}

export async function startFakeModel(): Promise<FakeModel> {
  const port = await freePort();
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let hits = 0;
  const model: FakeModel = {
    baseUrl: `http://127.0.0.1:${port}`,
    get hits() {
      return hits;
    },
    handler: (_req, res) => {
      res.writeHead(500).end();
    },
    async start() {
      const s = createServer(async (req, res) => {
        hits++;
        for await (const _ of req); // the request body is not needed, only consumed
        try {
          await model.handler(req, res);
        } catch {
          res.destroy();
        }
      });
      s.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', resolve);
      });
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await model.start();
  return model;
}
