import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Router from '@koa/router';
import { routeTemplateOf } from '../../../service/src/platform/http/route-template.js';

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

/** What routeOf computed before the map: the last route (not middleware) matching path and method. */
function fullMatch(router: Router, path: string, method: string): string {
  return String(
    router
      .match(path, method)
      .pathAndMethod.filter((layer) => layer.methods.length > 0)
      .at(-1)?.path ?? 'unmatched',
  );
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
  it('is what matching every route gives, for every path and method, asked once or again', () => {
    const router = serviceLikeRouter();
    const templateOf = routeTemplateOf(router);
    for (let round = 0; round < 2; round += 1) {
      for (const path of PATHS) {
        for (const method of METHODS)
          assert.equal(templateOf(path, method), fullMatch(router, path, method), `${method} ${path}, round ${round + 1}`);
      }
    }
    assert.equal(templateOf('/v1/me', 'DELETE'), '/v1/me');
    assert.equal(templateOf('/v1/me', 'POST'), 'unmatched', 'a method the path has no route for');
    assert.equal(templateOf('/v1/conversations/3f2c', 'GET'), '/v1/conversations/:id');
  });

  it('matches a path without parameters once per method, and any other path every time', (t) => {
    const router = serviceLikeRouter();
    const templateOf = routeTemplateOf(router);
    const match = t.mock.method(router as unknown as { match: Router['match'] }, 'match');
    for (let i = 0; i < 5; i += 1) templateOf('/v1/me', 'GET');
    assert.equal(match.mock.callCount(), 1, '/v1/me GET: from the map after the first request');
    templateOf('/v1/me', 'DELETE');
    assert.equal(match.mock.callCount(), 2, 'another method is matched on its own');
    for (let i = 0; i < 3; i += 1) templateOf('/v1/conversations/3f2c', 'GET');
    assert.equal(match.mock.callCount(), 5, 'a path with an id is matched each time (the map never holds it)');
    for (let i = 0; i < 3; i += 1) templateOf('/v1/me/', 'GET');
    assert.equal(match.mock.callCount(), 8, 'nor another spelling of a static path');
  });
});
