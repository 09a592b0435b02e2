import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for an OpenAI-compatible chat-completions server (node:http on 127.0.0.1, port 0).
 * Each test sets `handler`; every request is recorded (with its body) before the handler runs.
 */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface OpenAiCompatibleServer {
  baseUrl: string;
  requests: RecordedRequest[];
  handler: Handler;
  close(): Promise<void>;
}

export async function startOpenAiCompatibleServer(): Promise<OpenAiCompatibleServer> {
  const state: OpenAiCompatibleServer = {
    baseUrl: '',
    requests: [],
    handler: (_req, res) => {
      res.writeHead(500).end();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    state.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    await state.handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

let sequence = 0;

/** One `data:` event exactly as OpenAI sends it (a chat.completion.chunk), with its blank line. */
export function chunkEvent(delta: Record<string, unknown>, finishReason: string | null = null): string {
  const chunk = {
    id: `chatcmpl-test${++sequence}`,
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-test',
    system_fingerprint: 'fp_test',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** A whole streamed reply in OpenAI's shape: a role-only chunk, one chunk per fragment, a finish chunk, [DONE]. */
export function streamedReply(fragments: readonly string[]): string {
  return [
    chunkEvent({ role: 'assistant', content: '', refusal: null }),
    ...fragments.map((content) => chunkEvent({ content })),
    chunkEvent({}, 'stop'),
    'data: [DONE]\n\n',
  ].join('');
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
