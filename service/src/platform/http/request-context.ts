import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { requestContextStorage } from '../request-context.js';
import { createClientAddressResolver } from './client-address.js';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * First middleware: assigns the request id (an incoming valid X-Request-Id is kept), resolves the
 * client address through the trusted-proxy rules, and runs the rest of the chain inside the
 * async context that the logger reads.
 */
export function requestContext(trustedProxies: readonly string[]): Middleware {
  const resolveClient = createClientAddressResolver(trustedProxies);
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const { ip, protocol } = resolveClient(ctx.req);
    ctx.state.requestId = requestId;
    ctx.state.clientIp = ip;
    ctx.state.protocol = protocol;
    ctx.set('X-Request-Id', requestId);
    await requestContextStorage.run({ requestId, ip }, next);
  };
}
