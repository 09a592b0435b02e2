import http from 'node:http';
import https from 'node:https';
import { HEADER_CHECK_IDS } from './header-ids.js';
import { mailMetricsChecks } from './mail.js';
import { metricsValueChecks } from './metrics.js';
import { type CheckResult, fail, pass, undecided as manual } from './result.js';

export type { CheckResult } from './result.js';

export interface HttpProbeOptions {
  url: URL;
  metricsUrl: URL | undefined;
  /** Sign up a throwaway user to read the access token's header (writes a user row). */
  signupProbe: boolean;
  timeoutMs: number;
  /** Judges the runtime /version reports (`node_version`, undefined when absent): the runtime.currency item. */
  runtimeCheck?: (nodeVersion: string | undefined, seen: string) => CheckResult;
}

interface Seen {
  status: number;
  headers: Headers;
  body: string;
}

async function get(url: URL, timeoutMs: number, init: RequestInit = {}): Promise<Seen> {
  const res = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const at = (base: URL, path: string) => new URL(path, base);

/** `name: value` or `name absent`, for evidence. */
const shown = (headers: Headers, name: string) => {
  const value = headers.get(name);
  return value === null ? `${name} absent` : `${name}: ${value}`;
};

export const REQUIRED_METRICS = [
  'http_requests_total',
  'db_pool_in_use',
  'auth_success_total',
  'auth_fail_total',
  'rate_limit_dropped_total',
  'external_model_latency_seconds',
  'build_info',
] as const;

const METRIC_TYPES: Record<(typeof REQUIRED_METRICS)[number], string> = {
  http_requests_total: 'counter',
  db_pool_in_use: 'gauge',
  auth_success_total: 'counter',
  auth_fail_total: 'counter',
  rate_limit_dropped_total: 'counter',
  external_model_latency_seconds: 'histogram',
  build_info: 'gauge',
};

/** The checks httpChecks produces (with the metrics listener's, metrics.ts). */
export const HTTP_CHECK_IDS = [
  ...HEADER_CHECK_IDS,
  'api.error-format',
  'api.cache-control',
  'api.content-type',
  'api.body-limit',
  'rate-limit.headers',
  'rate-limit.auth-tighter',
  'jwt.algorithm',
  'jwt.asymmetric',
  'version.git-sha',
  'runtime.currency',
  'tls.plain-http',
  'metrics.present',
  'mail.configured',
  'mail.outbox',
] as const;

/** Every check that needs only the service's public URL (and the metrics listener). */
export async function httpChecks(options: HttpProbeOptions): Promise<CheckResult[]> {
  const { url, timeoutMs } = options;
  const results: CheckResult[] = [];

  let health: Seen | undefined;
  let healthError: string | undefined;
  try {
    health = await get(at(url, '/healthz'), timeoutMs);
  } catch (err) {
    healthError = `GET /healthz failed: ${(err as Error).message}`;
  }
  results.push(...headerChecks(health, healthError));

  // Error format: an unknown path.
  const notFoundTitle = 'Errors are RFC 9457 problem details (unknown path → 404 with code and request_id)';
  let notFound: Seen | undefined;
  try {
    notFound = await get(at(url, `/__secops_readiness_${Date.now().toString(36)}`), timeoutMs);
    const type = notFound.headers.get('content-type') ?? '';
    let body: { code?: unknown; request_id?: unknown } = {};
    try {
      body = JSON.parse(notFound.body) as typeof body;
    } catch {
      // reported below
    }
    const ok =
      notFound.status === 404 &&
      type.startsWith('application/problem+json') &&
      typeof body.code === 'string' &&
      typeof body.request_id === 'string';
    const evidence = `GET unknown path → ${notFound.status} ${type || 'no content-type'}, code=${JSON.stringify(body.code)}, request_id=${body.request_id === undefined ? 'absent' : 'present'}`;
    results.push((ok ? pass : fail)('api.error-format', notFoundTitle, evidence));
  } catch (err) {
    results.push(fail('api.error-format', notFoundTitle, `GET unknown path failed: ${(err as Error).message}`));
  }

  // Cache-Control on API responses (the health check and the 404).
  const cacheTitle = 'API responses carry Cache-Control: no-store';
  const cacheSeen = [health && ['/healthz', health], notFound && ['unknown path', notFound]].filter(Boolean) as [string, Seen][];
  if (cacheSeen.length === 0) results.push(fail('api.cache-control', cacheTitle, healthError ?? 'no response'));
  else {
    const bad = cacheSeen.filter(([, s]) => !/\bno-store\b/i.test(s.headers.get('cache-control') ?? ''));
    const evidence = cacheSeen.map(([p, s]) => `${p}: ${shown(s.headers, 'Cache-Control')}`).join('; ');
    results.push((bad.length === 0 ? pass : fail)('api.cache-control', cacheTitle, evidence));
  }

  // Content-Type enforcement.
  const ctTitle = 'JSON routes refuse other content types (POST /v1/auth/login text/plain → 415)';
  try {
    const res = await get(at(url, '/v1/auth/login'), timeoutMs, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'secops readiness probe',
    });
    results.push(
      (res.status === 415 ? pass : fail)('api.content-type', ctTitle, `POST /v1/auth/login text/plain → ${res.status}`),
    );
  } catch (err) {
    results.push(fail('api.content-type', ctTitle, `POST /v1/auth/login failed: ${(err as Error).message}`));
  }

  results.push(await bodyLimitCheck(url, timeoutMs));

  // Rate-limit headers: on any of the responses seen so far, else on /version.
  const rlTitle = 'Rate limiting active: RateLimit-Policy header on responses';
  let version: Seen | undefined;
  let versionError: string | undefined;
  try {
    version = await get(at(url, '/version'), timeoutMs);
  } catch (err) {
    versionError = `GET /version failed: ${(err as Error).message}`;
  }
  const withPolicy = (
    [
      ['/healthz', health],
      ['unknown path', notFound],
      ['/version', version],
    ] as [string, Seen | undefined][]
  ).find(([, s]) => s?.headers.get('ratelimit-policy'));
  results.push(
    withPolicy
      ? pass('rate-limit.headers', rlTitle, `${withPolicy[0]}: ${shown((withPolicy[1] as Seen).headers, 'RateLimit-Policy')}`)
      : fail('rate-limit.headers', rlTitle, 'no RateLimit-Policy header on /healthz, an unknown path or /version'),
  );

  let authRoute: Seen | undefined;
  try {
    // No token: the auth limiter answers before authentication refuses (401), spending one auth-bucket point.
    authRoute = await get(at(url, '/v1/auth/sessions'), timeoutMs);
  } catch {
    authRoute = undefined; // reported as absent
  }
  results.push(authTighterCheck(withPolicy, authRoute));
  results.push(await jwtCheck(url, timeoutMs, options.signupProbe), await asymmetricCheck(url, timeoutMs));

  // Git SHA, and the Node running the service.
  const shaTitle = 'Git SHA embedded at build time (/version git_sha)';
  let versionBody: { git_sha?: unknown; node_version?: unknown } = {};
  try {
    versionBody = version ? (JSON.parse(version.body) as typeof versionBody) : {};
  } catch {
    // reported below
  }
  if (!version) results.push(fail('version.git-sha', shaTitle, versionError ?? 'no response'));
  else {
    const sha = versionBody.git_sha;
    const ok = version.status === 200 && typeof sha === 'string' && /^[0-9a-f]{7,40}$/i.test(sha);
    results.push(
      (ok ? pass : fail)('version.git-sha', shaTitle, `GET /version → ${version.status}, git_sha=${JSON.stringify(sha ?? null)}`),
    );
  }
  if (options.runtimeCheck) {
    const node = version?.status === 200 && typeof versionBody.node_version === 'string' ? versionBody.node_version : undefined;
    const seen = version
      ? `GET /version → ${version.status}, node_version=${JSON.stringify(versionBody.node_version ?? null)}`
      : (versionError ?? 'no response');
    results.push(options.runtimeCheck(node, seen));
  }

  results.push(await plainHttpCheck(url, timeoutMs));
  const metrics = await fetchMetrics(options.metricsUrl, timeoutMs);
  results.push(metricsCheck(metrics));
  // The exposition's text, or why there is none; undefined without --metrics-url.
  const exposition =
    metrics === undefined
      ? undefined
      : 'error' in metrics
        ? { error: metrics.error }
        : metrics.status === 200
          ? { body: metrics.body }
          : { error: `GET ${metrics.target.pathname} → ${metrics.status}` };
  results.push(...metricsValueChecks(exposition));
  // mail.configured, and mail.outbox as far as the metrics tell (a database check replaces the latter).
  results.push(...mailMetricsChecks(exposition));
  return results;
}

const HEADER_TITLES = {
  'headers.hsts': 'Security header: Strict-Transport-Security max-age=31536000; includeSubDomains; preload',
  'headers.csp': "Security header: Content-Security-Policy (default-src 'none'; frame-ancestors 'none')",
  'headers.x-content-type-options': 'Security header: X-Content-Type-Options: nosniff',
  'headers.x-frame-options': 'Security header: X-Frame-Options: DENY',
  'headers.referrer-policy': 'Security header: Referrer-Policy: no-referrer',
  'headers.permissions-policy': 'Security header: Permissions-Policy denying features',
  'headers.no-x-powered-by': 'No X-Powered-By header (and no Server version)',
} as const;

function headerChecks(seen: Seen | undefined, error: string | undefined): CheckResult[] {
  if (!seen) return Object.entries(HEADER_TITLES).map(([id, title]) => fail(id, title, error ?? 'no response'));
  const h = seen.headers;
  const directives = (value: string | null) =>
    new Map(
      (value ?? '')
        .split(';')
        .map((d) => d.trim())
        .filter(Boolean)
        .map((d) => {
          const [name, ...rest] = d.split(/\s+/);
          return [(name as string).toLowerCase(), rest.join(' ')] as const;
        }),
    );
  const hsts = h.get('strict-transport-security');
  const hstsParts = (hsts ?? '').split(';').map((p) => p.trim().toLowerCase());
  const hstsOk =
    hstsParts.includes('max-age=31536000') && hstsParts.includes('includesubdomains') && hstsParts.includes('preload');
  const csp = directives(h.get('content-security-policy'));
  const cspOk = csp.get('default-src') === "'none'" && csp.get('frame-ancestors') === "'none'";
  const permissions = h.get('permissions-policy') ?? '';
  const features = permissions
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const permissionsOk = features.length > 0 && features.every((f) => /^[a-z-]+=\(\)$/i.test(f));
  const server = h.get('server');
  const noPoweredBy = h.get('x-powered-by') === null && (server === null || !/\d/.test(server));
  const on = (text: string) => `GET /healthz: ${text}`;
  return [
    (hstsOk ? pass : fail)('headers.hsts', HEADER_TITLES['headers.hsts'], on(shown(h, 'Strict-Transport-Security'))),
    (cspOk ? pass : fail)('headers.csp', HEADER_TITLES['headers.csp'], on(shown(h, 'Content-Security-Policy'))),
    (h.get('x-content-type-options')?.toLowerCase() === 'nosniff' ? pass : fail)(
      'headers.x-content-type-options',
      HEADER_TITLES['headers.x-content-type-options'],
      on(shown(h, 'X-Content-Type-Options')),
    ),
    (h.get('x-frame-options')?.toUpperCase() === 'DENY' ? pass : fail)(
      'headers.x-frame-options',
      HEADER_TITLES['headers.x-frame-options'],
      on(shown(h, 'X-Frame-Options')),
    ),
    (h.get('referrer-policy')?.toLowerCase() === 'no-referrer' ? pass : fail)(
      'headers.referrer-policy',
      HEADER_TITLES['headers.referrer-policy'],
      on(shown(h, 'Referrer-Policy')),
    ),
    (permissionsOk ? pass : fail)(
      'headers.permissions-policy',
      HEADER_TITLES['headers.permissions-policy'],
      on(shown(h, 'Permissions-Policy')),
    ),
    (noPoweredBy ? pass : fail)(
      'headers.no-x-powered-by',
      HEADER_TITLES['headers.no-x-powered-by'],
      on(`${shown(h, 'X-Powered-By')}, ${shown(h, 'Server')}`),
    ),
  ];
}

/**
 * Declares a body far above any sane MAX_REQUEST_SIZE_BYTES and sends none of it: a service that
 * refuses early answers 413 at once; one that buffers first waits for bytes that never come.
 */
async function bodyLimitCheck(url: URL, timeoutMs: number): Promise<CheckResult> {
  const id = 'api.body-limit';
  const title = 'Oversized bodies refused early (declared Content-Length 1 GiB → 413 before the body)';
  const declared = 1024 ** 3;
  const target = at(url, '/v1/auth/login');
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<CheckResult>((resolve) => {
    let settled = false;
    const done = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = client.request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(declared) },
    });
    const timer = setTimeout(
      () =>
        done(
          fail(id, title, `no answer within ${timeoutMs} ms with the body withheld: the service waits for (buffers) the body`),
        ),
      timeoutMs,
    );
    req.on('response', (res) => {
      res.resume();
      done(
        (res.statusCode === 413 ? pass : fail)(
          id,
          title,
          `POST /v1/auth/login with Content-Length ${declared}, no body sent → ${res.statusCode}`,
        ),
      );
    });
    req.on('error', (err) => done(fail(id, title, `request failed: ${err.message}`)));
    req.flushHeaders();
  });
}

/** `"name";q=10;w=60` → its rate (requests per second) and text. */
function policyOf(seen: Seen | undefined): { name: string; rate: number; text: string } | undefined {
  const text = seen?.headers.get('ratelimit-policy');
  const m = text ? /"([^"]+)";q=(\d+);w=(\d+)/.exec(text) : null;
  if (!text || !m) return undefined;
  return { name: m[1] as string, rate: Number(m[2]) / Number(m[3]), text };
}

/**
 * `rate-limit.auth-tighter`: the policy an auth route answers with (GET /v1/auth/sessions without a
 * token: its auth limiter runs before authentication) allows fewer requests per second than the global one.
 */
function authTighterCheck(global: [string, Seen | undefined] | undefined, auth: Seen | undefined): CheckResult {
  const id = 'rate-limit.auth-tighter';
  const title = 'Auth endpoints limited tighter than the rest (RateLimit-Policy of GET /v1/auth/sessions vs. a non-auth route)';
  const g = policyOf(global?.[1]);
  const a = policyOf(auth);
  const where = global?.[0] ?? 'other routes';
  if (!g || !a)
    return fail(
      id,
      title,
      `RateLimit-Policy ${!g ? 'absent on /healthz, an unknown path and /version' : `on ${where}: ${g.text}`}; ${!a ? 'absent on GET /v1/auth/sessions' : `on GET /v1/auth/sessions: ${a.text}`}`,
    );
  return (a.rate < g.rate ? pass : fail)(
    id,
    title,
    `GET /v1/auth/sessions: ${a.text} (${a.rate.toFixed(3)}/s) vs. ${where}: ${g.text} (${g.rate.toFixed(3)}/s)${a.rate < g.rate ? '' : ': the auth route is not limited tighter'}`,
  );
}

interface Jwk {
  alg?: string;
  kty?: string;
  crv?: string;
  kid?: string;
}

/** The JWKS's keys, or what went wrong (the evidence of a failed check). */
async function fetchJwks(url: URL, timeoutMs: number): Promise<{ keys: Jwk[] } | { problem: string }> {
  try {
    const res = await get(at(url, '/.well-known/jwks.json'), timeoutMs);
    const doc = JSON.parse(res.body) as { keys?: unknown };
    if (res.status !== 200 || !Array.isArray(doc.keys))
      return { problem: `GET /.well-known/jwks.json → ${res.status}, no keys array` };
    return { keys: doc.keys as Jwk[] };
  } catch (err) {
    return { problem: `GET /.well-known/jwks.json failed: ${(err as Error).message}` };
  }
}

/** `jwt.asymmetric`: the JWKS publishes asymmetric signing keys (EdDSA / RS256), each with a distinct kid. */
async function asymmetricCheck(url: URL, timeoutMs: number): Promise<CheckResult> {
  const id = 'jwt.asymmetric';
  const title = 'Asymmetric JWT: the JWKS publishes EdDSA/RS256 keys, each with its own kid (rotation by kid)';
  const jwks = await fetchJwks(url, timeoutMs);
  if ('problem' in jwks) return fail(id, title, jwks.problem);
  const { keys } = jwks;
  if (keys.length === 0) return fail(id, title, 'JWKS publishes no key: tokens are signed with the symmetric JWT_SECRET (HS256)');
  const asymmetric = (k: (typeof keys)[number]) => k.alg === 'EdDSA' || k.alg === 'RS256' || k.kty === 'OKP' || k.kty === 'RSA';
  const kids = keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string' && k.length > 0);
  const problems = [
    keys.some((k) => !asymmetric(k)) &&
      `not asymmetric: ${keys
        .filter((k) => !asymmetric(k))
        .map((k) => k.alg ?? k.kty ?? '?')
        .join(', ')}`,
    kids.length !== keys.length && 'a key without kid',
    new Set(kids).size !== kids.length && 'duplicate kid',
  ].filter(Boolean);
  const seen = `JWKS: ${keys.map((k) => `${k.kid ?? '?'}=${k.alg ?? k.kty ?? '?'}`).join(', ')}`;
  return problems.length === 0 ? pass(id, title, seen) : fail(id, title, `${seen}: ${problems.join('; ')}`);
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function jwtCheck(url: URL, timeoutMs: number, signupProbe: boolean): Promise<CheckResult> {
  const id = 'jwt.algorithm';
  const title = 'JWKS endpoint answers; access tokens signed with HS256 or EdDSA';
  const jwks = await fetchJwks(url, timeoutMs);
  if ('problem' in jwks) return fail(id, title, jwks.problem);
  const { keys } = jwks;
  const jwksEvidence = `JWKS 200 with ${keys.length} key(s)`;
  const badKeys = keys.filter((k) => !(k.alg === 'EdDSA' || (k.alg === undefined && k.kty === 'OKP' && k.crv === 'Ed25519')));
  if (badKeys.length > 0)
    return fail(id, title, `${jwksEvidence}; not EdDSA: ${badKeys.map((k) => `${k.kid ?? '?'}=${k.alg ?? k.kty}`).join(', ')}`);
  const published =
    keys.length === 0 ? 'none published → HS256 (symmetric)' : `EdDSA (${keys.map((k) => k.kid ?? '?').join(', ')})`;
  if (!signupProbe)
    return pass(
      id,
      title,
      `${jwksEvidence}: ${published}; token header not decoded (read-only; --signup-probe to check a real token)`,
    );
  try {
    const email = `secops-readiness-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.invalid`;
    const password = `probe ${crypto.randomUUID()} Readiness!`;
    const res = await get(at(url, '/v1/auth/signup'), timeoutMs, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (res.status === 202)
      return pass(
        id,
        title,
        `${jwksEvidence}: ${published}; signup probe → 202 (EMAIL_VERIFICATION=required: no token before the address is verified), token header not decoded`,
      );
    const token = (JSON.parse(res.body) as { access_token?: unknown }).access_token;
    if (res.status !== 201 || typeof token !== 'string')
      return fail(id, title, `${jwksEvidence}; signup probe → ${res.status}, no access token`);
    const header = decodeSegment(token.split('.')[0] ?? '');
    const alg = header?.alg;
    const algOk = alg === 'HS256' || alg === 'EdDSA';
    const consistent = alg !== 'EdDSA' || keys.some((k) => k.kid === header?.kid);
    return (algOk && consistent ? pass : fail)(
      id,
      title,
      `${jwksEvidence}: ${published}; signup probe token header alg=${String(alg)} typ=${String(header?.typ)} kid=${String(header?.kid)}${consistent ? '' : ' (kid not in JWKS)'}`,
    );
  } catch (err) {
    return fail(id, title, `${jwksEvidence}; signup probe failed: ${(err as Error).message}`);
  }
}

/**
 * `tls.plain-http`: plain HTTP to the API host is refused, never redirected (issue 25, ASVS 5.0
 * 4.1.2: a redirect hides a client that sends its bearer token in the clear). Passed when
 * `http://<host>/healthz` answers 403 `https_required` (the ingress forwards it and the service refuses
 * it) or nothing listens there; failed on a redirect, or on any other answer. `plain` is that URL
 * (tests point it at a port of theirs). Only for an https:// --url: with http:// the API itself is
 * being reached in plaintext, which only the ingress can settle.
 */
export async function plainHttpCheck(url: URL, timeoutMs: number, plain: URL = plainHttpUrl(url)): Promise<CheckResult> {
  const id = 'tls.plain-http';
  const title = 'HTTPS only: plain HTTP to the API host is refused (403 https_required), never redirected';
  if (url.protocol !== 'https:') {
    return manual(
      id,
      title,
      `--url is ${url.protocol.replace(':', '')}: check at the ingress that http:// is refused with 403 https_required and not redirected (run again with the public https URL)`,
    );
  }
  let res: Seen;
  try {
    res = await get(plain, timeoutMs);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === 'ECONNREFUSED') return pass(id, title, `GET ${plain.href}: connection refused (no plain HTTP listener)`);
    return fail(id, title, `GET ${plain.href} failed: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const location = res.headers.get('location');
  let code: unknown;
  try {
    code = (JSON.parse(res.body) as { code?: unknown }).code;
  } catch {
    code = undefined;
  }
  const seen = `GET ${plain.href} → ${res.status}${location ? ` Location: ${location}` : ''}${typeof code === 'string' ? ` code ${code}` : ''}`;
  if (res.status >= 300 && res.status < 400)
    return fail(id, title, `${seen}: a redirect hides a client sending tokens in the clear; refuse instead`);
  return (res.status === 403 && code === 'https_required' ? pass : fail)(id, title, seen);
}

function plainHttpUrl(url: URL): URL {
  const plain = new URL(url);
  plain.protocol = 'http:';
  plain.port = '';
  plain.pathname = '/healthz';
  plain.search = '';
  return plain;
}

type MetricsFetch = { target: URL; status: number; body: string } | { target: URL; error: string };

/** The metrics listener's exposition, read once for every item that looks at it; undefined without --metrics-url. */
async function fetchMetrics(metricsUrl: URL | undefined, timeoutMs: number): Promise<MetricsFetch | undefined> {
  if (!metricsUrl) return undefined;
  const target = metricsUrl.pathname === '/' ? at(metricsUrl, '/metrics') : metricsUrl;
  try {
    const res = await get(target, timeoutMs);
    return { target, status: res.status, body: res.body };
  } catch (err) {
    return { target, error: `GET ${target.pathname} failed: ${(err as Error).message}` };
  }
}

function metricsCheck(metrics: MetricsFetch | undefined): CheckResult {
  const id = 'metrics.present';
  const title = `Metrics exported: ${REQUIRED_METRICS.join(', ')}`;
  if (!metrics) return manual(id, title, 'pass --metrics-url (the METRICS_PORT listener, never exposed through the ingress)');
  if ('error' in metrics) return fail(id, title, metrics.error);
  const { target } = metrics;
  if (metrics.status !== 200) return fail(id, title, `GET ${target.pathname} → ${metrics.status}`);
  const lines = metrics.body.split('\n');
  const has = (name: string) =>
    lines.some(
      (l) =>
        l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name} `) || l.startsWith(`${name}{`) || l.startsWith(`${name}_bucket`),
    );
  const missing = REQUIRED_METRICS.filter((m) => !has(m));
  if (missing.length > 0) return fail(id, title, `GET ${target.pathname} → 200, missing: ${missing.join(', ')}`);
  // The type each family must have: a latency summary or a gauge-for-counter breaks the alerts' queries.
  const mistyped = REQUIRED_METRICS.filter((m) => {
    const declared = new RegExp(`^# TYPE ${m} (\\S+)$`, 'm').exec(metrics.body)?.[1];
    return declared !== undefined && declared !== METRIC_TYPES[m];
  }).map((m) => `${m} is a ${new RegExp(`^# TYPE ${m} (\\S+)$`, 'm').exec(metrics.body)?.[1]}, not a ${METRIC_TYPES[m]}`);
  return mistyped.length === 0
    ? pass(id, title, `GET ${target.pathname} → 200 with all ${REQUIRED_METRICS.length} families, each of its type`)
    : fail(id, title, `GET ${target.pathname} → 200: ${mistyped.join('; ')}`);
}
