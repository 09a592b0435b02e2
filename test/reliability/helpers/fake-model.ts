import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from '../../helpers/private-postgres.js';
import { chunkEvent } from '../../service/components/chat/models/openai-compatible-server.js';

/**
 * An OpenAI-compatible upstream the fault tests control: its behaviour per request (`handler`), how
 * many requests reached it (`hits`), and whether it listens at all — `stop()` closes the port
 * (connection refused) and `start()` opens the same port again, so a spawned service configured
 * with its URL once sees it go down and come back. The reply shapes come from the component tests'
 * helper (test/service/components/chat/models/openai-compatible-server.ts).
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

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
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        try {
          await model.handler(req, res, Buffer.concat(chunks).toString('utf8'));
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

export interface CompletionOptions {
  /** The reply's fragments (default three words). */
  fragments?: readonly string[];
  /**
   * The `usage` chunk OpenAI sends last when the request asks with `stream_options.include_usage`;
   * `false`: an upstream that never reports usage.
   */
  usage?: { prompt_tokens: number; completion_tokens: number } | false;
  /** Holds the reply (headers sent, no token yet) until this settles: calls that stay open. */
  hold?: Promise<void>;
  /** Told when a request's connection closes before its reply ended (the caller aborted). */
  onAbort?: () => void;
}

/**
 * A well-behaved OpenAI-compatible reply: role chunk, fragments, finish chunk, the usage chunk when
 * asked for (and `usage` is not false), [DONE]. `max_tokens` and `stream_options` are whatever the
 * request sent (see `requestsSeen`).
 */
export function completion(options: CompletionOptions = {}): Handler & { readonly requestsSeen: Record<string, unknown>[] } {
  const requestsSeen: Record<string, unknown>[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const request = JSON.parse(body) as Record<string, unknown>;
    requestsSeen.push(request);
    let finished = false;
    res.on('close', () => {
      if (!finished) options.onAbort?.();
    });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunkEvent({ role: 'assistant', content: '' }));
    if (options.hold) await options.hold;
    if (res.destroyed) return;
    for (const content of options.fragments ?? ['one', ' two', ' three']) res.write(chunkEvent({ content }));
    res.write(chunkEvent({}, 'stop'));
    const asked = (request.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    if (asked && options.usage) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-usage', object: 'chat.completion.chunk', choices: [], usage: { ...options.usage, total_tokens: options.usage.prompt_tokens + options.usage.completion_tokens } })}\n\n`);
    finished = true;
    res.end('data: [DONE]\n\n');
    void req;
  };
  return Object.assign(handler, { requestsSeen });
}
