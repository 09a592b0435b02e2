import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line emitted while serving a request should carry. */
export interface RequestContext {
  /** The service's own id for the request: always generated here, never taken from the client. */
  requestId: string;
  /** A valid X-Request-Id the client sent (≤ 128 of [A-Za-z0-9._:-]), kept beside ours for correlation. */
  clientRequestId?: string;
  ip: string;
  userId?: string;
}

/**
 * Per-request context propagated through async calls, so a log line written deep in a domain
 * function still carries the request id without threading a logger through every call.
 */
export const requestContextStorage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return requestContextStorage.getStore();
}
