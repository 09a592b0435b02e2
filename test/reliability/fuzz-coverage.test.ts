import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Router from '@koa/router';
import { startTestApp } from '../helpers/app.js';
import type { EndpointSpec } from './helpers/fuzz-harness.js';
import * as endpoints from './helpers/fuzz-endpoints.js';

/**
 * Every route the API serves is fuzzed by one of the fuzz-*.test.ts suites (test/reliability), so a
 * new endpoint cannot ship without hostile-input coverage. Routes that take no input an attacker
 * shapes are listed here with the reason.
 */
const NOT_FUZZED: Record<string, string> = {
  'GET /healthz': 'no input; covered by http-abuse.test.ts',
  'GET /readyz': 'no input; covered by http-abuse.test.ts',
  'GET /version': 'no input',
  'GET /.well-known/jwks.json': 'no input',
  'GET /openapi.json': 'no input: the static document',
};

describe('fuzz coverage', () => {
  it('every served route is fuzzed or listed with a reason', async (t) => {
    const app = await startTestApp();
    t.after(() => app.close());
    const served = new Set<string>();
    for (const middleware of app.app.middleware as { router?: Router }[]) {
      for (const layer of middleware.router?.stack ?? []) {
        for (const method of layer.methods) if (method !== 'HEAD') served.add(`${method} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`);
      }
    }
    const fuzzed = new Set(Object.values(endpoints as Record<string, EndpointSpec>).map((e) => `${e.method} ${e.path}`));
    const missing = [...served].filter((r) => !fuzzed.has(r) && !(r in NOT_FUZZED)).sort();
    assert.deepEqual(missing, [], 'served routes no fuzz suite covers');
    const stale = Object.keys(NOT_FUZZED).filter((r) => !served.has(r));
    assert.deepEqual(stale, [], 'listed as not fuzzed but not served');
  });
});
