import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type Router from '@koa/router';
import { startTestApp } from '../helpers/app.js';
import { documentedOperations } from '../helpers/openapi.js';

type Dispatch = { router?: Router };

/** "GET /v1/conversations/{id}" for every method and path the app's routers answer (HEAD is GET's). */
async function servedRoutes(t: import('node:test').TestContext): Promise<string[]> {
  const app = await startTestApp();
  t.after(() => app.close());
  const routes = new Set<string>();
  for (const middleware of app.app.middleware as Dispatch[]) {
    for (const layer of middleware.router?.stack ?? []) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue;
        routes.add(`${method} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`);
      }
    }
  }
  return [...routes].sort();
}

/** The endpoint rows of docs/api.md's tables: `| METHOD /path | …`. */
function contractRoutes(): string[] {
  const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const routes = new Set<string>();
  for (const m of text.matchAll(/^\| (GET|POST|PUT|PATCH|DELETE) (\/\S*)( [^|]*)?\|/gm)) {
    // The metrics listener (METRICS_PORT) is a separate server, not a route of the API's router.
    if (m[3]?.includes('METRICS_PORT')) continue;
    routes.add(`${m[1]} ${m[2]}`);
  }
  return [...routes].sort();
}

describe('the routes the service serves, docs/api.md and the OpenAPI document list the same endpoints', () => {
  it('every served route is in docs/api.md and in OpenAPI, and neither lists a route that is not served', async (t) => {
    const served = await servedRoutes(t);
    const contract = contractRoutes();
    const openapi = [...new Set(documentedOperations().map((op) => `${op.method} ${op.path}`))].sort();
    assert.ok(served.length >= 20, `only ${served.length} routes found: ${served.join(', ')}`);
    const missing = (from: string[], inList: string[]) => from.filter((r) => !inList.includes(r));
    assert.deepEqual(missing(served, contract), [], 'served but missing from docs/api.md');
    assert.deepEqual(missing(contract, served), [], 'in docs/api.md but not served');
    assert.deepEqual(missing(served, openapi), [], 'served but missing from the OpenAPI document');
    assert.deepEqual(missing(openapi, served), [], 'in the OpenAPI document but not served');
  });
});
