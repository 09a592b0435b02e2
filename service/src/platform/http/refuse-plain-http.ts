import type { Middleware } from 'koa';
import { AppError } from '../errors.js';

/**
 * Production: a request that reached the service over plain HTTP — as its trusted proxy says
 * (X-Forwarded-Proto: http from a TRUSTED_PROXIES peer, request-context.ts) — is refused with 403
 * `https_required`, never redirected (ASVS 5.0 4.1.2: an API does not redirect, so a client that sent
 * its bearer token in the clear fails loudly, and the token is known to be exposed). The ingress
 * therefore forwards plain HTTP instead of redirecting it (k8s/base/ingress.yaml, ssl-redirect off).
 * A direct connection is judged by itself: with TLS_CERT_FILE the listener speaks TLS only (plain
 * HTTP never gets an HTTP answer); without it the pod is reached by its probes and by the proxy alone
 * (NetworkPolicy). Runs before anything reads the Authorization header or a body.
 */
export function refusePlainHttp(): Middleware {
  return async (ctx, next) => {
    if (ctx.state.protocol === 'http' && ctx.state.protocolForwarded === true)
      throw new AppError('https_required', {
        detail:
          'This API is served over HTTPS only; the request was sent over plain HTTP and was not processed. Any credentials it carried were sent in the clear: treat them as exposed.',
      });
    await next();
  };
}
