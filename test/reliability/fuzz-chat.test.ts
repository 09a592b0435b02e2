import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzEndpoint, type FuzzWorld, startFuzzWorld } from './helpers/fuzz-harness.js';
import { hostileString } from './helpers/fuzz-inputs.js';

/**
 * Property-based fuzzing of every chat endpoint (issue 12), with the invariants of fuzz-auth: no
 * 5xx, no hang, problem+json errors, the victim's conversations untouched (ids of the victim's
 * conversations are among the generated ids), healthy afterwards.
 */
describe('chat endpoints under hostile input', () => {
  let world: FuzzWorld;
  before(async () => {
    world = await startFuzzWorld();
  });
  after(async () => {
    for (const [name, n] of world.cases) console.log(`# fuzz cases ${name}: ${n}`);
    await world.close();
  });

  const title = fc.record({ title: fc.oneof(fc.constant('a title'), fc.constant(null), hostileString) }, { requiredKeys: [] });
  const content = fc.record({ content: fc.oneof(fc.constant('hello there'), hostileString) });

  it('POST /v1/conversations keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'conversations-create', method: 'POST', path: '/v1/conversations', authenticated: true, fields: ['title'], plausible: title }));

  it('GET /v1/conversations keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'conversations-list', method: 'GET', path: '/v1/conversations', authenticated: true, fields: [], query: true }));

  it('GET /v1/conversations/{id} keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'conversations-get', method: 'GET', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] }));

  it('DELETE /v1/conversations/{id} keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'conversations-delete', method: 'DELETE', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] }));

  it('GET /v1/conversations/{id}/messages keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'messages-list', method: 'GET', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: [], query: true }));

  it('POST /v1/conversations/{id}/messages keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'messages-create', method: 'POST', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: ['content'], plausible: content }));
});
