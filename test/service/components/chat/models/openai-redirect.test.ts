/**
 * The model client never follows a redirect (ASVS 5.0 15.3.2): a 3xx from the configured endpoint is a
 * failed call, and the place it points to is never asked — so neither the API key nor the conversation
 * can be sent somewhere the operator did not configure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOpenAiModel } from '../../../../../service/src/components/chat/models/openai.js';
import { type ChatTurn, ModelUnavailableError } from '../../../../../service/src/components/chat/models/provider.js';
import { Secret } from '../../../../../service/src/config/secret.js';
import {
  type OpenAiCompatibleServer,
  SSE_HEADERS,
  startOpenAiCompatibleServer,
  streamedReply,
} from './openai-compatible-server.js';

const API_KEY = 'sk-test-redirect-DO-NOT-FOLLOW';
const TURNS: ChatTurn[] = [{ role: 'user', content: 'Where does this go?' }];

describe('OpenAI-compatible model and redirects', () => {
  let configured: OpenAiCompatibleServer;
  let elsewhere: OpenAiCompatibleServer;
  before(async () => {
    configured = await startOpenAiCompatibleServer();
    elsewhere = await startOpenAiCompatibleServer();
    // What a redirect would reach: a working endpoint, so a followed redirect would succeed.
    elsewhere.handler = (_req, res) => {
      res.writeHead(200, SSE_HEADERS).end(streamedReply(['followed']));
    };
  });
  after(async () => {
    await configured.close();
    await elsewhere.close();
  });

  it('does not follow a redirect from the model endpoint: the call fails and the target is never asked', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      configured.requests.length = 0;
      configured.handler = (_req, res) => {
        res.writeHead(status, { location: `${elsewhere.baseUrl}/v1/chat/completions` }).end();
      };
      const model = createOpenAiModel({
        baseUrl: configured.baseUrl,
        apiKey: new Secret(API_KEY),
        model: 'gpt-test',
        timeoutMs: 5_000,
        retryDelayMs: 20,
      });
      const fragments: string[] = [];
      let error: unknown;
      try {
        for await (const fragment of model.stream(TURNS, new AbortController().signal)) fragments.push(fragment);
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof ModelUnavailableError, `${status}: ${String(error)}`);
      assert.match(error.message, new RegExp(`HTTP ${status}`));
      assert.deepEqual(fragments, []);
      assert.equal(configured.requests.length, 1, `${status}: asked once, not retried`);
    }
    assert.equal(elsewhere.requests.length, 0, 'the redirect target was never asked');
  });
});
