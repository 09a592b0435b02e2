import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { limitKeyOf } from '../limit-key.js';
import { requestContextStorage } from '../request-context.js';
import { createClientAddressResolver } from './client-address.js';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * First middleware: assigns the request id — always our own UUID (`requestId`: logs, audit rows, the
 * mail outbox), so a client cannot plant ids of its choosing in the audit trail; a valid X-Request-Id
 * from the client is kept beside it (`clientRequestId`, logged as `client_request_id`) and, as the
 * contract says, is what the response's X-Request-Id and problem bodies carry (`responseRequestId`);
 * without one they carry ours — resolves the
 * client address through the trusted-proxy rules, and runs the rest of the chain inside the
 * async context that the logger reads. `ctx.state.clientIp` is the full address (logs, audit);
 * `ctx.state.clientKey` is what every per-IP limit counts by (IPv6 by its /`ipv6Prefix`, limit-key.ts).
 */
export function requestContext(trustedProxies: readonly string[], ipv6Prefix = 64): Middleware {
  const resolveClient = createClientAddressResolver(trustedProxies);
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const clientRequestId = VALID_REQUEST_ID.test(incoming) ? incoming : undefined;
    const requestId = randomUUID();
    const { ip, protocol, protocolForwarded } = resolveClient(ctx.req);
    ctx.state.requestId = requestId;
    ctx.state.clientRequestId = clientRequestId;
    ctx.state.responseRequestId = clientRequestId ?? requestId;
    ctx.state.clientIp = ip;
    ctx.state.clientKey = limitKeyOf(ip, ipv6Prefix);
    ctx.state.protocol = protocol;
    ctx.state.protocolForwarded = protocolForwarded;
    ctx.set('X-Request-Id', clientRequestId ?? requestId);
    await requestContextStorage.run(clientRequestId ? { requestId, clientRequestId, ip } : { requestId, ip }, next);
  };
}
