import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ErrorCode, errorCatalogue } from '../../service/src/platform/errors.js';
import { loadOpenApiDocument } from '../../service/src/platform/openapi.js';
import type { InProcessTestApp } from '../helpers/app.js';
import { assertResponseMatchesOpenApi, documentedOperations } from '../helpers/openapi.js';

type JsonObject = Record<string, unknown>;

const document = loadOpenApiDocument();
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const REQUEST_ID = 'req-1';
const USER_ID = '0b8f5a2e-4a7c-4d8e-9f10-2b3c4d5e6f70';
const SESSION_ID = '6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f';
const CONVERSATION_ID = '3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d';
const MESSAGE_ID = '7c6b5a49-3827-4165-9a4b-3c2d1e0f9a8b';
const ACCESS_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
const REFRESH_TOKEN = 'A'.repeat(43);

function json(extra: Record<string, string> = {}): Headers {
  return new Headers({ 'content-type': 'application/json; charset=utf-8', 'x-request-id': REQUEST_ID, ...extra });
}

function problemHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({ 'content-type': 'application/problem+json', 'x-request-id': REQUEST_ID, ...extra });
}

const RATE_LIMIT_HEADERS = { 'retry-after': '30', ratelimit: '"auth";r=0;t=30', 'ratelimit-policy': '"auth";q=30;w=60' };
const INVALID_TOKEN_CHALLENGE = { 'www-authenticate': 'Bearer error="invalid_token"' };

/** A problem body as the service writes it (service/src/platform/http/problem.ts). */
function problem(code: ErrorCode, extra: JsonObject = {}): JsonObject {
  const entry = errorCatalogue[code];
  return {
    type: `urn:problem-type:rampart:${code}`,
    title: entry.title,
    status: entry.status,
    code,
    request_id: REQUEST_ID,
    ...extra,
  };
}

function user(): JsonObject {
  return { id: USER_ID, email: 'ada@example.com', created_at: '2026-01-02T03:04:05.678Z' };
}

function authTokens(): JsonObject {
  return { user: user(), access_token: ACCESS_TOKEN, refresh_token: REFRESH_TOKEN, token_type: 'Bearer', expires_in: 900 };
}

function session(overrides: JsonObject = {}): JsonObject {
  return {
    id: SESSION_ID,
    created_at: '2026-01-02T03:04:05.678Z',
    last_used_at: '2026-01-02T03:05:00.000Z',
    ip: '203.0.113.7',
    user_agent: 'curl/8.5.0',
    current: true,
    ...overrides,
  };
}

function conversation(overrides: JsonObject = {}): JsonObject {
  return {
    id: CONVERSATION_ID,
    title: 'Trip to Lisbon',
    created_at: '2026-01-02T03:04:05.678Z',
    updated_at: '2026-01-02T03:06:00.000Z',
    ...overrides,
  };
}

function message(overrides: JsonObject = {}): JsonObject {
  return {
    id: MESSAGE_ID,
    role: 'user',
    content: 'Hello!',
    status: 'complete',
    created_at: '2026-01-02T03:06:00.000Z',
    ...overrides,
  };
}

/** Every object in the document with its JSON Pointer. */
function* walk(value: unknown, at = ''): Generator<{ at: string; node: JsonObject }> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* walk(item, `${at}/${i}`);
  } else if (typeof value === 'object' && value !== null) {
    yield { at, node: value as JsonObject };
    for (const [key, child] of Object.entries(value))
      yield* walk(child, `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
  }
}

function resolvePointer(ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local $refs are expected, got ${ref}`);
  let value: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as JsonObject)[key];
  }
  return value;
}

function deref(value: unknown): JsonObject {
  let current = value as JsonObject;
  while (typeof current.$ref === 'string') current = resolvePointer(current.$ref) as JsonObject;
  return current;
}

function operations(): Array<{ method: string; path: string; operation: JsonObject }> {
  const result: Array<{ method: string; path: string; operation: JsonObject }> = [];
  for (const [path, item] of Object.entries(document.paths as JsonObject)) {
    for (const method of HTTP_METHODS) {
      const operation = (item as JsonObject)[method];
      if (operation) result.push({ method, path, operation: operation as JsonObject });
    }
  }
  return result;
}

describe('the OpenAPI document (service/openapi.yaml)', () => {
  it('is an OpenAPI 3.1 document with a title, a version and paths', () => {
    assert.match(String(document.openapi), /^3\.1\.\d+$/);
    const info = document.info as JsonObject;
    assert.equal(typeof info.title, 'string');
    assert.equal(typeof info.version, 'string');
    assert.ok(Object.keys(document.paths as JsonObject).length > 0);
  });

  it('has no $ref that points nowhere', () => {
    const dangling: string[] = [];
    let refs = 0;
    for (const { at, node } of walk(document)) {
      if (typeof node.$ref !== 'string') continue;
      refs++;
      if (resolvePointer(node.$ref) === undefined) dangling.push(`${at}: ${node.$ref}`);
    }
    assert.ok(refs > 0);
    assert.deepEqual(dangling, []);
  });

  it('gives every operation a unique operationId, a summary and a 2xx response', () => {
    const ids = new Set<string>();
    for (const { method, path, operation } of operations()) {
      const name = `${method.toUpperCase()} ${path}`;
      assert.equal(typeof operation.operationId, 'string', `${name} has no operationId`);
      assert.ok(!ids.has(operation.operationId as string), `${name}: operationId ${operation.operationId} is used twice`);
      ids.add(operation.operationId as string);
      assert.equal(typeof operation.summary, 'string', `${name} has no summary`);
      const statuses = Object.keys(operation.responses as JsonObject);
      assert.ok(
        statuses.some((s) => /^2(\d\d|XX)$/.test(s)),
        `${name} documents no 2xx response`,
      );
    }
  });

  it('puts X-Request-Id on every response and problem+json (only) on every error response', () => {
    for (const { method, path, operation } of operations()) {
      for (const [status, value] of Object.entries(operation.responses as JsonObject)) {
        const name = `${method.toUpperCase()} ${path} → ${status}`;
        const response = deref(value);
        const headers = (response.headers ?? {}) as JsonObject;
        assert.ok(headers['X-Request-Id'], `${name} does not declare X-Request-Id`);
        assert.equal(deref(headers['X-Request-Id']).required, true, `${name}: X-Request-Id must be required`);
        if (Number(status) >= 400 && path !== '/readyz') {
          assert.deepEqual(Object.keys((response.content ?? {}) as JsonObject), ['application/problem+json'], name);
        }
      }
    }
  });

  it('documents the errors every route can give: 404, 405, 429 with its headers (never on the health routes), 500', () => {
    const neverLimited = new Set(['/healthz', '/readyz', '/version']);
    for (const { method, path, operation } of operations()) {
      const name = `${method.toUpperCase()} ${path}`;
      const responses = operation.responses as JsonObject;
      for (const status of ['404', '405', '500']) assert.ok(responses[status], `${name} does not document ${status}`);
      if (neverLimited.has(path)) {
        assert.equal(responses['429'], undefined, `${name} is never rate-limited, so it documents no 429`);
        continue;
      }
      assert.ok(responses['429'], `${name} does not document 429`);
      const tooMany = deref(responses['429']);
      for (const header of ['Retry-After', 'RateLimit', 'RateLimit-Policy']) {
        assert.equal(deref((tooMany.headers as JsonObject)[header] ?? {}).required, true, `${name} → 429 must require ${header}`);
      }
    }
  });

  it('documents 400, 413 and 415 for every route that reads a body, and 401 with WWW-Authenticate for every authenticated one', () => {
    for (const { method, path, operation } of operations()) {
      const name = `${method.toUpperCase()} ${path}`;
      const responses = operation.responses as JsonObject;
      if (method === 'post' || method === 'delete') {
        for (const status of ['400', '413', '415']) assert.ok(responses[status], `${name} does not document ${status}`);
      }
      const security = (operation.security ?? document.security ?? []) as JsonObject[];
      if (security.some((requirement) => Object.keys(requirement).includes('bearerAuth'))) {
        assert.ok(responses['401'], `${name} is authenticated but does not document 401`);
        assert.ok((deref(responses['401']).headers as JsonObject)['WWW-Authenticate'], `${name} → 401 lacks WWW-Authenticate`);
      }
    }
  });

  it('requires a bearer token exactly on the authenticated routes', () => {
    const authenticated = operations()
      .filter(({ operation }) => ((operation.security ?? document.security ?? []) as JsonObject[]).some((r) => 'bearerAuth' in r))
      .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
      .sort();
    assert.deepEqual(authenticated, [
      'DELETE /v1/auth/mfa/totp',
      'DELETE /v1/auth/sessions/{id}',
      'DELETE /v1/auth/webauthn/credentials/{id}',
      'DELETE /v1/conversations/{id}',
      'DELETE /v1/me',
      'GET /v1/auth/sessions',
      'GET /v1/auth/webauthn/credentials',
      'GET /v1/conversations',
      'GET /v1/conversations/{id}',
      'GET /v1/conversations/{id}/messages',
      'GET /v1/conversations/{id}/messages/{message_id}/events',
      'GET /v1/me',
      'GET /v1/me/export',
      'GET /v1/usage',
      'PATCH /v1/auth/webauthn/credentials/{id}',
      'POST /v1/auth/email',
      'POST /v1/auth/logout-all',
      'POST /v1/auth/mfa/recovery-codes',
      'POST /v1/auth/mfa/totp',
      'POST /v1/auth/mfa/totp/confirm',
      'POST /v1/auth/password',
      'POST /v1/auth/reauthenticate',
      'POST /v1/auth/webauthn/reauthenticate/options',
      'POST /v1/auth/webauthn/register',
      'POST /v1/auth/webauthn/register/options',
      'POST /v1/conversations',
      'POST /v1/conversations/{id}/messages',
    ]);
  });
});

describe('error codes in the document', () => {
  /** Every `code` const/enum in the document, with the `status` const beside it when there is one. */
  function documentedCodes(): Array<{ at: string; code: string; status: number | undefined }> {
    const found: Array<{ at: string; code: string; status: number | undefined }> = [];
    for (const { at, node } of walk(document)) {
      const properties = node.properties as JsonObject | undefined;
      const code = properties?.code as JsonObject | undefined;
      if (!code) continue;
      const values = [...(code.const === undefined ? [] : [code.const]), ...((code.enum as unknown[] | undefined) ?? [])];
      const status = (properties?.status as JsonObject | undefined)?.const as number | undefined;
      for (const value of values) found.push({ at, code: String(value), status });
    }
    return found;
  }

  it('are all in the service error catalogue, with the catalogue status', () => {
    const codes = documentedCodes();
    assert.ok(codes.length >= 15, `only ${codes.length} codes found: the walk is broken`);
    for (const { at, code, status } of codes) {
      assert.ok(Object.hasOwn(errorCatalogue, code), `${at}: ${code} is not in errorCatalogue`);
      if (status !== undefined) {
        assert.equal(errorCatalogue[code as ErrorCode].status, status, `${at}: ${code} is documented with status ${status}`);
      }
    }
  });

  // The "notable errors" column of docs/api.md, plus the conventions (401 invalid_token on authenticated routes).
  const notable: Array<[method: string, path: string, code: ErrorCode, headers?: Record<string, string>, extra?: JsonObject]> = [
    ['POST', '/v1/auth/signup', 'invalid_email'],
    [
      'POST',
      '/v1/auth/signup',
      'weak_password',
      {},
      { feedback: { warning: 'This is a very common password.', suggestions: [] } },
    ],
    ['POST', '/v1/auth/signup', 'email_taken'],
    ['POST', '/v1/auth/signup', 'validation_failed', {}, { errors: [{ field: 'email', message: 'Required' }] }],
    ['POST', '/v1/auth/login', 'invalid_credentials'],
    ['POST', '/v1/auth/login', 'too_many_attempts', RATE_LIMIT_HEADERS],
    ['POST', '/v1/auth/login', 'rate_limited', RATE_LIMIT_HEADERS],
    ['POST', '/v1/auth/login', 'invalid_json'],
    ['POST', '/v1/auth/login', 'payload_too_large'],
    ['POST', '/v1/auth/login', 'unsupported_media_type'],
    ['POST', '/v1/auth/refresh', 'invalid_refresh_token'],
    ['POST', '/v1/auth/refresh', 'refresh_token_reused'],
    ['POST', '/v1/auth/logout-all', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['GET', '/v1/auth/sessions', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['DELETE', `/v1/auth/sessions/${SESSION_ID}`, 'not_found'],
    ['DELETE', `/v1/auth/sessions/${SESSION_ID}`, 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['POST', '/v1/auth/password', 'invalid_credentials'],
    ['POST', '/v1/auth/password', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['POST', '/v1/auth/password', 'weak_password', {}, { feedback: { suggestions: ['Add another word or two.'] } }],
    ['GET', '/v1/me', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['POST', '/v1/auth/webauthn/register/options', 'passkey_limit_reached'],
    ['POST', '/v1/auth/webauthn/register', 'invalid_webauthn_response'],
    ['POST', '/v1/auth/webauthn/register', 'validation_failed', {}, { errors: [{ field: 'response.id', message: 'Not base64url.' }] }],
    ['POST', '/v1/auth/webauthn/register', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['GET', '/v1/auth/webauthn/credentials', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['PATCH', `/v1/auth/webauthn/credentials/${SESSION_ID}`, 'not_found'],
    ['DELETE', `/v1/auth/webauthn/credentials/${SESSION_ID}`, 'not_found'],
    ['POST', '/v1/auth/webauthn/login', 'invalid_credentials'],
    ['POST', '/v1/auth/webauthn/login', 'account_disabled'],
    ['POST', '/v1/auth/webauthn/login', 'rate_limited', RATE_LIMIT_HEADERS],
    ['GET', '/v1/me', 'service_unavailable'],
    ['POST', '/v1/conversations', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['POST', '/v1/conversations', 'validation_failed', {}, { errors: [{ field: 'title', message: 'Too long' }] }],
    ['POST', '/v1/conversations', 'unsupported_media_type'],
    ['GET', '/v1/conversations', 'validation_failed', {}, { errors: [{ field: 'limit', message: 'Too big' }] }],
    ['GET', '/v1/conversations', 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['GET', `/v1/conversations/${CONVERSATION_ID}`, 'not_found'],
    ['GET', '/v1/conversations/not-a-uuid', 'not_found'],
    ['DELETE', `/v1/conversations/${CONVERSATION_ID}`, 'not_found'],
    ['DELETE', `/v1/conversations/${CONVERSATION_ID}`, 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['GET', `/v1/conversations/${CONVERSATION_ID}/messages`, 'not_found'],
    [
      'GET',
      `/v1/conversations/${CONVERSATION_ID}/messages`,
      'validation_failed',
      {},
      { errors: [{ field: 'cursor', message: 'Not a cursor this API issued.' }] },
    ],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'not_found'],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'too_many_streams', RATE_LIMIT_HEADERS],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'rate_limited', RATE_LIMIT_HEADERS],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'model_unavailable'],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'model_timeout'],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'invalid_json'],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'payload_too_large'],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'invalid_token', INVALID_TOKEN_CHALLENGE],
    ['POST', `/v1/conversations/${CONVERSATION_ID}/messages`, 'service_unavailable'],
    ['GET', '/v1/me', 'rate_limited', RATE_LIMIT_HEADERS],
    ['GET', '/healthz', 'internal_error'],
  ];
  for (const [method, path, code, headers, extra] of notable) {
    it(`documents ${errorCatalogue[code].status} ${code} for ${method} ${path}`, () => {
      assertResponseMatchesOpenApi(
        { method, path },
        {
          status: errorCatalogue[code].status,
          headers: problemHeaders(headers),
          body: problem(code, { ...(code === 'internal_error' ? {} : { detail: 'Details.' }), ...extra }),
        },
      );
    });
  }
});

describe('assertResponseMatchesOpenApi', () => {
  const signup = { method: 'POST', path: '/v1/auth/signup' };

  it('accepts a response that matches (charset and query string ignored)', () => {
    assertResponseMatchesOpenApi(signup, { status: 201, headers: json(), body: authTokens() });
    assertResponseMatchesOpenApi({ method: 'GET', path: '/v1/me?verbose=1' }, { status: 200, headers: json(), body: { ...user(), email_verified: true, mfa: { totp: false, webauthn: false } } });
    assertResponseMatchesOpenApi({ method: 'get', path: '/healthz' }, { status: 200, headers: json(), body: { status: 'ok' } });
  });

  it('rejects a body missing a required field, naming the operation, the status and the field', () => {
    const { refresh_token: _, ...body } = authTokens();
    assert.throws(
      () => assertResponseMatchesOpenApi(signup, { status: 201, headers: json(), body }),
      (err: Error) => {
        assert.equal(err.name, 'AssertionError');
        assert.match(err.message, /POST \/v1\/auth\/signup \(signup\) → 201/);
        assert.match(err.message, /must have required property 'refresh_token'/);
        return true;
      },
    );
  });

  it('rejects a field of the wrong type', () => {
    assert.throws(
      () => assertResponseMatchesOpenApi(signup, { status: 201, headers: json(), body: { ...authTokens(), expires_in: '900' } }),
      /expires_in must be integer/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(signup, { status: 201, headers: json(), body: { ...authTokens(), token_type: 'bearer' } }),
      /token_type must be equal to constant/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/me' },
          { status: 200, headers: json(), body: { ...user(), id: 42 } },
        ),
      /\/id must be string/,
    );
  });

  it('rejects a property the document does not describe, nested ones included', () => {
    assert.throws(
      () => assertResponseMatchesOpenApi(signup, { status: 201, headers: json(), body: { ...authTokens(), scope: 'all' } }),
      /must NOT have additional properties.*"additionalProperty":"scope"/s,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(signup, {
          status: 201,
          headers: json(),
          body: { ...authTokens(), user: { ...user(), password_hash: '$argon2id$...' } },
        }),
      /"additionalProperty":"password_hash"/,
    );
  });

  it('rejects a status the operation does not document', () => {
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/healthz' },
          { status: 418, headers: json(), body: { status: 'ok' } },
        ),
      /GET \/healthz \(getHealth\) answered 418, which is not documented/,
    );
    assert.throws(
      () => assertResponseMatchesOpenApi(signup, { status: 200, headers: json(), body: authTokens() }),
      /answered 200, which is not documented/,
    );
  });

  it('rejects an undocumented path or method, unless it answers a 404/405 problem', () => {
    assert.throws(
      () => assertResponseMatchesOpenApi({ method: 'GET', path: '/v1/nothing-here' }, { status: 200, headers: json(), body: {} }),
      /no operation in service\/openapi.yaml matches/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'PUT', path: '/healthz' },
          { status: 200, headers: json(), body: { status: 'ok' } },
        ),
      /documented for GET/,
    );
    assertResponseMatchesOpenApi(
      { method: 'GET', path: '/v1/nothing-here' },
      { status: 404, headers: problemHeaders(), body: problem('not_found') },
    );
    assertResponseMatchesOpenApi(
      { method: 'PUT', path: '/healthz' },
      { status: 405, headers: problemHeaders(), body: problem('method_not_allowed') },
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/nothing-here' },
          { status: 404, headers: problemHeaders(), body: problem('internal_error') },
        ),
      /code must be equal to constant/,
    );
  });

  it('matches templated paths, and a 204 must have no body', () => {
    const revoke = { method: 'DELETE', path: `/v1/auth/sessions/${SESSION_ID}` };
    assertResponseMatchesOpenApi(revoke, { status: 204, headers: new Headers({ 'x-request-id': REQUEST_ID }), body: '' });
    assert.throws(
      () => assertResponseMatchesOpenApi(revoke, { status: 204, headers: json(), body: { revoked: true } }),
      /revokeSession.*documented without a body/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi({ method: 'DELETE', path: '/v1/auth/sessions' }, { status: 204, headers: json(), body: '' }),
      /documented for GET/,
    );
  });

  it('rejects a content type the response does not document', () => {
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/healthz' },
          { status: 200, headers: new Headers({ 'content-type': 'text/plain', 'x-request-id': REQUEST_ID }), body: 'ok' },
        ),
      /content type "text\/plain" is not documented/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/me' },
          { status: 401, headers: json(INVALID_TOKEN_CHALLENGE), body: problem('invalid_token') },
        ),
      /content type "application\/json" is not documented.*application\/problem\+json/,
    );
  });

  it('rejects a response without its required headers', () => {
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/healthz' },
          { status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: { status: 'ok' } },
        ),
      /required header X-Request-Id is missing/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/me' },
          { status: 401, headers: problemHeaders(), body: problem('invalid_token') },
        ),
      /required header WWW-Authenticate is missing/,
    );
    const { ratelimit: _, ...withoutRateLimit } = RATE_LIMIT_HEADERS;
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/conversations' },
          { status: 429, headers: problemHeaders(withoutRateLimit), body: problem('rate_limited') },
        ),
      /required header RateLimit is missing/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'GET', path: '/v1/conversations' },
          {
            status: 429,
            headers: problemHeaders({ ...RATE_LIMIT_HEADERS, 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' }),
            body: problem('rate_limited'),
          },
        ),
      /header Retry-After .* must be integer/,
    );
  });

  it('rejects problems the operation cannot give or that break the problem rules', () => {
    const login = { method: 'POST', path: '/v1/auth/login' };
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(login, {
          status: 401,
          headers: problemHeaders(INVALID_TOKEN_CHALLENGE),
          body: problem('invalid_token'),
        }),
      /login\) → 401.*code must be equal to constant/s,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(login, {
          status: 401,
          headers: problemHeaders(),
          body: { ...problem('invalid_credentials'), request_id: undefined },
        }),
      /must have required property 'request_id'/,
    );
    assert.throws(
      () => assertResponseMatchesOpenApi(login, { status: 400, headers: problemHeaders(), body: problem('validation_failed') }),
      /must have required property 'errors'/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(login, {
          status: 400,
          headers: problemHeaders(),
          body: problem('validation_failed', { errors: [{ field: 'email' }] }),
        }),
      /\/errors\/0 must have required property 'message'/,
    );
    assert.throws(
      () => assertResponseMatchesOpenApi(signup, { status: 400, headers: problemHeaders(), body: problem('weak_password') }),
      /must have required property 'feedback'/,
    );
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(login, {
          status: 500,
          headers: problemHeaders(),
          body: problem('internal_error', { detail: 'relation "users" does not exist' }),
        }),
      /"propertyName":"detail"/,
    );
  });

  it('checks readiness: 200 only with every check ok, 503 only with one failing, and never why a check failed', () => {
    const readyz = { method: 'GET', path: '/readyz' };
    assertResponseMatchesOpenApi(readyz, { status: 200, headers: json(), body: { status: 'ready', checks: { database: 'ok' } } });
    assertResponseMatchesOpenApi(readyz, {
      status: 503,
      headers: json(),
      body: { status: 'not_ready', checks: { database: 'ok', redis: 'failing' } },
    });
    assertResponseMatchesOpenApi(readyz, {
      status: 503,
      headers: json(),
      body: { status: 'not_ready', checks: { database: 'ok', lifecycle: 'failing' } },
    });
    assert.throws(() =>
      assertResponseMatchesOpenApi(readyz, {
        status: 200,
        headers: json(),
        body: { status: 'ready', checks: { database: 'failing' } },
      }),
    );
    assert.throws(() =>
      assertResponseMatchesOpenApi(readyz, {
        status: 503,
        headers: json(),
        body: { status: 'not_ready', checks: { database: 'ok' } },
      }),
    );
    // The old detailed shape (error text, timings) is no longer allowed.
    assert.throws(() =>
      assertResponseMatchesOpenApi(readyz, {
        status: 503,
        headers: json(),
        body: {
          status: 'not_ready',
          checks: { database: { status: 'fail', error: 'connect ECONNREFUSED 10.0.0.5:5432', duration_ms: 3 } },
        },
      }),
    );
    assert.throws(() =>
      assertResponseMatchesOpenApi(readyz, {
        status: 503,
        headers: json(),
        body: { status: 'not_ready', checks: { database: 'failing' }, error: 'connect ECONNREFUSED 10.0.0.5:5432' },
      }),
    );
  });

  it('checks sessions, versions and key sets', () => {
    const sessions = { method: 'GET', path: '/v1/auth/sessions' };
    assertResponseMatchesOpenApi(sessions, {
      status: 200,
      headers: json(),
      body: { items: [session(), session({ ip: null, user_agent: null, current: false })] },
    });
    const { current: _, ...withoutCurrent } = session();
    assert.throws(
      () => assertResponseMatchesOpenApi(sessions, { status: 200, headers: json(), body: { items: [withoutCurrent] } }),
      /current/,
    );

    const version = { method: 'GET', path: '/version' };
    assertResponseMatchesOpenApi(version, {
      status: 200,
      headers: json(),
      body: { version: '0.1.0', git_sha: 'unknown', built_at: '2026-01-02T03:04:05.678Z', node_version: 'v26.12.1' },
    });
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(version, {
          status: 200,
          headers: json(),
          body: { version: '0.1.0', git_sha: 'abc', built_at: 'yesterday', node_version: 'v26.12.1' },
        }),
      /must match format "date-time"/,
    );

    const jwks = { method: 'GET', path: '/.well-known/jwks.json' };
    const publicKey = {
      kty: 'OKP',
      crv: 'Ed25519',
      x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
      kid: 'k1',
      alg: 'EdDSA',
      use: 'sig',
    };
    assertResponseMatchesOpenApi(jwks, { status: 200, headers: json(), body: { keys: [] } });
    assertResponseMatchesOpenApi(jwks, { status: 200, headers: json(), body: { keys: [publicKey] } });
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(jwks, {
          status: 200,
          headers: json(),
          body: { keys: [{ ...publicKey, d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' }] },
        }),
      /\/keys\/0\/d/,
    );
  });

  it('checks conversations, messages and their pages', () => {
    const create = { method: 'POST', path: '/v1/conversations' };
    assertResponseMatchesOpenApi(create, { status: 201, headers: json(), body: conversation() });
    assertResponseMatchesOpenApi(create, { status: 201, headers: json(), body: conversation({ title: null }) });
    assert.throws(
      () => assertResponseMatchesOpenApi(create, { status: 201, headers: json(), body: conversation({ title: '' }) }),
      /\/title must NOT have fewer than 1 characters/,
    );
    assert.throws(
      () => assertResponseMatchesOpenApi(create, { status: 201, headers: json(), body: conversation({ user_id: USER_ID }) }),
      /"additionalProperty":"user_id"/,
    );

    const list = { method: 'GET', path: '/v1/conversations?limit=2' };
    assertResponseMatchesOpenApi(list, {
      status: 200,
      headers: json(),
      body: { items: [conversation()], next_cursor: 'WyIyMDI2Il0' },
    });
    assertResponseMatchesOpenApi(list, { status: 200, headers: json(), body: { items: [], next_cursor: null } });
    assert.throws(
      () => assertResponseMatchesOpenApi(list, { status: 200, headers: json(), body: { items: [] } }),
      /must have required property 'next_cursor'/,
    );

    const messages = { method: 'GET', path: `/v1/conversations/${CONVERSATION_ID}/messages` };
    assertResponseMatchesOpenApi(messages, {
      status: 200,
      headers: json(),
      body: { items: [message(), message({ role: 'assistant', content: '', status: 'failed' })], next_cursor: null },
    });
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(messages, {
          status: 200,
          headers: json(),
          body: { items: [message({ role: 'system' })], next_cursor: null },
        }),
      /\/items\/0\/role must be equal to one of the allowed values/,
    );

    const post = { method: 'POST', path: `/v1/conversations/${CONVERSATION_ID}/messages` };
    const reply = message({ role: 'assistant', content: 'Hi.' });
    assertResponseMatchesOpenApi(post, { status: 201, headers: json(), body: { message: message(), reply } });
    assert.throws(
      () => assertResponseMatchesOpenApi(post, { status: 201, headers: json(), body: { message: reply, reply } }),
      /\/message\/role must be equal to constant/,
    );
    const stream = 'event: message\ndata: {}\n\n: ping\n\nevent: delta\ndata: {"text":"Hi."}\n\n';
    assertResponseMatchesOpenApi(post, {
      status: 200,
      headers: new Headers({ 'content-type': 'text/event-stream', 'x-request-id': REQUEST_ID }),
      body: stream,
    });
    assert.throws(
      () => assertResponseMatchesOpenApi(post, { status: 200, headers: json(), body: { message: message(), reply } }),
      /content type "application\/json" is not documented/,
    );

    const remove = { method: 'DELETE', path: `/v1/conversations/${CONVERSATION_ID}` };
    assertResponseMatchesOpenApi(remove, { status: 204, headers: new Headers({ 'x-request-id': REQUEST_ID }), body: '' });
  });

  it('treats HEAD as the GET of the same path, without a body', () => {
    assertResponseMatchesOpenApi({ method: 'HEAD', path: '/healthz' }, { status: 200, headers: json(), body: '' });
    assert.throws(
      () =>
        assertResponseMatchesOpenApi(
          { method: 'HEAD', path: '/healthz' },
          { status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: '' },
        ),
      /X-Request-Id is missing/,
    );
  });

  it('lists the documented operations with upper-case methods and path templates', () => {
    const listed = documentedOperations();
    assert.equal(listed.length, operations().length);
    assert.ok(listed.some((op) => op.method === 'DELETE' && op.path === '/v1/auth/sessions/{id}'));
    for (const op of listed) assert.match(op.method, /^[A-Z]+$/);
  });
});

describe('the running service answers as documented', () => {
  let app: InProcessTestApp;
  before(async () => {
    // Imported here so that the document and validator tests above still run while the app does not load.
    const { startTestApp } = await import('../helpers/app.js');
    app = await startTestApp();
  });
  after(async () => {
    await app?.close();
  });

  async function call(method: string, path: string): Promise<{ status: number; body: unknown }> {
    const res = await app.request(path, { method });
    const text = await res.text();
    const body = /json/.test(res.headers.get('content-type') ?? '') && text !== '' ? JSON.parse(text) : text;
    assertResponseMatchesOpenApi({ method, path }, { status: res.status, headers: res.headers, body });
    return { status: res.status, body };
  }

  it('serves this document at /openapi.json', async () => {
    const { status, body } = await call('GET', '/openapi.json');
    assert.equal(status, 200);
    assert.deepEqual(body, JSON.parse(JSON.stringify(document)));
  });

  it('answers the operational routes, an unknown path and a wrong method as documented', async () => {
    assert.equal((await call('GET', '/healthz')).status, 200);
    assert.equal((await call('GET', '/readyz')).status, 200);
    assert.equal((await call('GET', '/version')).status, 200);
    assert.equal((await call('GET', '/v1/no-such-route')).status, 404);
    assert.equal((await call('DELETE', '/healthz')).status, 405);
  });
});
