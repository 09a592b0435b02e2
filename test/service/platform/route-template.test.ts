import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Router from '@koa/router';
import Koa from 'koa';
import { memoizeStaticMatches, routeTemplateOf } from '../../../service/src/platform/http/route-template.js';

/** A router shaped like the service's: middleware, nested routers with prefixes, static and parameterised routes. */
function serviceLikeRouter(): Router {
  const router = new Router();
  router.use(async (_ctx, next) => next()); // a body parser's place: middleware, never a template
  const auth = new Router({ prefix: '/v1/auth' });
  auth.post('/login', () => undefined);
  auth.post('/refresh', () => undefined);
  router.use(auth.routes());
  const me = new Router();
  me.get('/v1/me', () => undefined);
  me.delete('/v1/me', () => undefined);
  router.use(me.routes());
  const chat = new Router({ prefix: '/v1/conversations' });
  chat.use(async (_ctx, next) => next()); // authenticate
  chat.get('/', () => undefined);
  chat.post('/', () => undefined);
  chat.get('/:id', () => undefined);
  chat.post('/:id/messages', () => undefined);
  router.use(chat.routes());
  router.get('/healthz', () => undefined);
  return router;
}

/** A match as plain data: each layer's path and methods (two routers built alike hold different layer objects). */
function described(result: ReturnType<Router['match']>) {
  const layers = (ls: typeof result.path) => ls.map((l) => `${l.methods.join(',') || 'middleware'} ${String(l.path)}`);
  return { path: layers(result.path), pathAndMethod: layers(result.pathAndMethod), route: result.route };
}

const PATHS = [
  '/v1/me',
  '/v1/me/',
  '/V1/ME',
  '/v1/auth/login',
  '/v1/auth/refresh',
  '/v1/conversations',
  '/v1/conversations/',
  '/v1/conversations/3f2c',
  '/v1/conversations/3f2c/messages',
  '/healthz',
  '/nope',
  '/',
];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

describe('the route template of a request before routing', () => {
  it('is the same as without the map, with the same match, for every path and method, asked once or again', () => {
    const plain = serviceLikeRouter();
    const memo = serviceLikeRouter();
    memoizeStaticMatches(memo);
    const templateOf = routeTemplateOf(memo);
    const plainTemplateOf = routeTemplateOf(plain);
    for (let round = 0; round < 2; round += 1) {
      for (const path of PATHS) {
        for (const method of METHODS) {
          const what = `${method} ${path}, round ${round + 1}`;
          assert.deepEqual(described(memo.match(path, method)), described(plain.match(path, method)), what);
          assert.equal(templateOf(path, method), plainTemplateOf(path, method), what);
        }
      }
    }
    assert.equal(templateOf('/v1/me', 'GET'), '/v1/me');
    assert.equal(templateOf('/v1/me', 'POST'), 'unmatched', 'a method the path has no route for');
    assert.equal(templateOf('/v1/conversations/3f2c', 'GET'), '/v1/conversations/:id');
  });

  it('matches a path without parameters once per method, and any other path every time', (t) => {
    const router = serviceLikeRouter();
    const match = t.mock.method(router as unknown as { match: Router['match'] }, 'match');
    memoizeStaticMatches(router);
    const templateOf = routeTemplateOf(router);
    for (let i = 0; i < 5; i += 1) templateOf('/v1/me', 'GET');
    router.match('/v1/me', 'GET'); // the router's own dispatch
    assert.equal(match.mock.callCount(), 1, '/v1/me GET: from the map after the first request');
    templateOf('/v1/me', 'DELETE');
    assert.equal(match.mock.callCount(), 2, 'another method is matched on its own');
    for (let i = 0; i < 3; i += 1) templateOf('/v1/conversations/3f2c', 'GET');
    assert.equal(match.mock.callCount(), 5, 'a path with an id is matched each time (the map never holds it)');
    for (let i = 0; i < 3; i += 1) templateOf('/v1/me/', 'GET');
    assert.equal(match.mock.callCount(), 8, 'nor another spelling of a static path');
  });

  it('hands out fresh arrays, so a request appending to its matched layers changes no other', () => {
    const router = serviceLikeRouter();
    memoizeStaticMatches(router);
    const first = router.match('/v1/me', 'GET');
    const count = first.path.length;
    first.path.push(...first.path);
    first.pathAndMethod.length = 0;
    const second = router.match('/v1/me', 'GET');
    assert.equal(second.path.length, count);
    assert.ok(second.pathAndMethod.length > 0);
  });

  it('dispatches through the map as the router does without it: handler, 405 with Allow, 404', async (t) => {
    const router = serviceLikeRouter();
    router.get('/v1/whoami', (ctx) => {
      ctx.body = { route: (ctx as unknown as { _matchedRoute: string })._matchedRoute };
    });
    memoizeStaticMatches(router);
    const app = new Koa();
    app.use(router.routes()).use(router.allowedMethods());
    const server = createServer(app.callback()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (let i = 0; i < 2; i += 1) {
      const ok = await fetch(`${base}/v1/whoami`);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { route: '/v1/whoami' });
      const wrongMethod = await fetch(`${base}/v1/whoami`, { method: 'DELETE' });
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'HEAD, GET');
      assert.equal((await fetch(`${base}/v1/nothing`)).status, 404);
    }
  });
});
