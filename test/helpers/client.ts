import type { RequestFunction } from './app.js';
import { assertResponseMatchesOpenApi } from './openapi.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface ApiRequest {
  headers?: Record<string, string>;
  /** Sent as JSON with Content-Type application/json. */
  json?: unknown;
  /** Sent verbatim (set Content-Type yourself). */
  body?: string | Uint8Array;
  /** Bearer token. */
  token?: string;
  /** Check the response against service/openapi.yaml (default true). */
  contract?: boolean;
}

/**
 * Where a request goes: a test app (`startTestApp`, in process or listening: its own `request`), a
 * spawned service (its `baseUrl`) or a base URL.
 */
export type ApiTarget = { readonly request: RequestFunction } | { readonly baseUrl: string } | string;

function sender(target: ApiTarget): RequestFunction {
  if (typeof target === 'string') return (path, init) => fetch(`${target}${path}`, init);
  if ('request' in target) return target.request;
  return (path, init) => fetch(`${target.baseUrl}${path}`, init);
}

/**
 * A client for component tests: one HTTP request to the service. Every response is checked against the
 * OpenAPI document unless `contract: false`, so the document cannot drift from the code.
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
