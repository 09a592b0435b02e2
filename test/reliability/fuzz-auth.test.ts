import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzEndpoint, type FuzzWorld, startFuzzWorld } from './helpers/fuzz-harness.js';
import { hostileString, plausibleEmail, plausiblePassword } from './helpers/fuzz-inputs.js';

/**
 * Property-based fuzzing of every auth endpoint (issue 12): hostile bodies, headers, framing and ids
 * never produce a 5xx, a hang or a non-problem error, never touch another user's data, and leave the
 * service healthy. FUZZ_RUNS scales the cases per endpoint; FUZZ_SEED replays a run.
 */
describe('auth endpoints under hostile input', () => {
  let world: FuzzWorld;
  before(async () => {
    world = await startFuzzWorld();
  });
  after(async () => {
    for (const [name, n] of world.cases) console.log(`# fuzz cases ${name}: ${n}`);
    await world.close();
  });

  const credentials = fc.record({ email: plausibleEmail, password: plausiblePassword });
  const refresh = fc.record({ refresh_token: fc.oneof(hostileString, fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url'))) });

  it('POST /v1/auth/signup keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'signup', method: 'POST', path: '/v1/auth/signup', authenticated: false, fields: ['email', 'password'], plausible: credentials }));

  it('POST /v1/auth/login keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'login', method: 'POST', path: '/v1/auth/login', authenticated: false, fields: ['email', 'password'], plausible: credentials }));

  it('POST /v1/auth/refresh keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'refresh', method: 'POST', path: '/v1/auth/refresh', authenticated: false, fields: ['refresh_token'], plausible: refresh }));

  it('POST /v1/auth/logout keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'logout', method: 'POST', path: '/v1/auth/logout', authenticated: false, fields: ['refresh_token'], plausible: refresh }));

  it('POST /v1/auth/logout-all keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'logout-all', method: 'POST', path: '/v1/auth/logout-all', authenticated: true, fields: [], revokesOwnSession: true }));

  it('GET /v1/auth/sessions keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'sessions-list', method: 'GET', path: '/v1/auth/sessions', authenticated: true, fields: [], query: true }));

  it('DELETE /v1/auth/sessions/{id} keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'sessions-delete', method: 'DELETE', path: '/v1/auth/sessions/{id}', ids: 'session', authenticated: true, fields: [], revokesOwnSession: true }));

  it('POST /v1/auth/password keeps every invariant', (t) =>
    fuzzEndpoint(t, world, {
      name: 'password',
      method: 'POST',
      path: '/v1/auth/password',
      authenticated: true,
      fields: ['current_password', 'new_password'],
      plausible: fc.record({ current_password: plausiblePassword, new_password: plausiblePassword }),
      onSuccess: (actor, body) => {
        // 204: the password is now the new one (the last duplicate key wins, as in the parser).
        actor.password = JSON.parse(body?.toString('utf8') ?? '{}').new_password;
      },
    }));

  it('GET /v1/me keeps every invariant', (t) =>
    fuzzEndpoint(t, world, { name: 'me', method: 'GET', path: '/v1/me', authenticated: true, fields: [], query: true }));
});
