import assert from 'node:assert/strict';
import type { RequestFunction } from './app.js';
import type { ApiRequest, ApiResponse } from './http.js';
import { assertResponseMatchesOpenApi } from './openapi.js';
import { type SignedUpUser, TEST_PASSWORD, uniqueEmail } from './users.js';

/**
 * Where a request goes: a test app (`startTestApp`, in process or listening: its own `request`) or
 * the base URL of a service on a socket.
 */
export type ApiTarget = { readonly request: RequestFunction } | string;

function sender(target: ApiTarget): RequestFunction {
  return typeof target === 'string' ? (path, init) => fetch(`${target}${path}`, init) : target.request;
}

/**
 * http.ts's `api` for any target: one request, every response checked against the OpenAPI document
 * unless `contract: false`. With a base URL it is that `api` exactly (which could re-export this).
 */
export async function api<T = any>(target: ApiTarget, method: string, path: string, req: ApiRequest = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...req.headers };
  let body: string | Uint8Array | undefined = req.body;
  if (req.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(req.json);
  }
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  const res = await sender(target)(path, { method, headers, body });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const parsed = /json/.test(type) && text !== '' ? JSON.parse(text) : text;
  const response = { status: res.status, headers: res.headers, body: parsed as T, text };
  if (req.contract !== false) assertResponseMatchesOpenApi({ method, path }, response);
  return response;
}

/**
 * users.ts's `signedUpUser` for any target: a fresh account signed up through the API (contract
 * checked), its credentials and token pair. Fails the test unless the signup answered 201.
 */
export async function signedUpUser(target: ApiTarget, options: { email?: string; password?: string; tag?: string } = {}): Promise<SignedUpUser> {
  const email = options.email ?? uniqueEmail(options.tag);
  const password = options.password ?? TEST_PASSWORD;
  const res = await api(target, 'POST', '/v1/auth/signup', { json: { email, password } });
  assert.equal(res.status, 201, res.text);
  return { email, password, ...res.body };
}
