/**
 * The edge's WAF (issue 25, "The edge"; docs/edge.md): the ModSecurity configuration of the
 * ingress-nginx controller's ConfigMap (k8s/ingress-nginx/controller-configmap.yaml,
 * `modsecurity-snippet`) run for real — a private nginx with the ModSecurity v3 module and the OWASP
 * Core Rule Set, the same text the controller loads, in front of the service — and:
 *   - every operation of service/openapi.yaml gets a legitimate request through (the service answers,
 *     whatever its status: nginx adds X-Edge-Upstream only to what came from upstream);
 *   - classic attacks in the query string (SQL injection, path traversal, XSS) are refused with 403
 *     by nginx itself;
 *   - a body over the Ingress's proxy-body-size (= MAX_REQUEST_SIZE_BYTES) is refused with 413 by the edge.
 * Needs nginx, its ModSecurity module and the CRS (Debian: nginx-light libnginx-mod-http-modsecurity
 * modsecurity-crs; .ci/run installs them); skipped with the reason without them, failed in CI.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { documentedOperations } from '../helpers/openapi.js';
import { createSoftwareAuthenticator } from '../helpers/software-authenticator.js';
import { TEST_PASSWORD, uniqueEmail } from '../helpers/users.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const NGINX = '/usr/sbin/nginx';
const MODULE = '/usr/lib/nginx/modules/ngx_http_modsecurity_module.so';
const CRS_SETUP = '/etc/modsecurity/crs/crs-setup.conf';
const CRS_RULES = '/usr/share/modsecurity-crs/rules';
const RP_ID = 'localhost';
const ORIGIN = 'http://localhost:3000';

const missing = [NGINX, MODULE, CRS_SETUP, CRS_RULES].filter((p) => !existsSync(p));
const CI = process.env.CI === 'true';
const skip =
  missing.length > 0 && !CI
    ? `nginx, its ModSecurity module or the CRS is not installed (${missing.join(', ')}); apt-get install nginx-light libnginx-mod-http-modsecurity modsecurity-crs`
    : false;

/** The ModSecurity text of the controller's ConfigMap: the one source of truth. */
function modsecuritySnippet(): string {
  const cm = parse(readFileSync(join(ROOT, 'k8s/ingress-nginx/controller-configmap.yaml'), 'utf8'));
  return cm.data['modsecurity-snippet'] as string;
}

/** The Ingress's body limit (`proxy-body-size`), in bytes. */
function edgeBodyLimitBytes(): number {
  const ing = parse(readFileSync(join(ROOT, 'k8s/base/ingress.yaml'), 'utf8'));
  const value = ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size'] as string;
  const m = /^(\d+)([km]?)$/.exec(value);
  assert.ok(m, `proxy-body-size ${value}`);
  return Number(m[1]) * (m[2] === 'k' ? 1024 : m[2] === 'm' ? 1024 * 1024 : 1);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Edge {
  baseUrl: string;
  dir: string;
  process: ChildProcess;
}

/**
 * A private nginx (ModSecurity + CRS) proxying to `upstream`, logs in its own directory, configured as
 * the controller's template does (ingress-nginx rootfs/etc/nginx/template/nginx.tmpl): `modsecurity on;
 * modsecurity_rules '<snippet>';` (the snippet replaces the controller's modsecurity.conf) and then the
 * CRS as a rules file.
 */
async function startEdge(upstream: string, snippet: string): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-waf-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const port = await freePort();
  const auditLog = /^\s*SecAuditLog\s+\S+\s*$/m;
  const rules = snippet.replace(auditLog, `SecAuditLog ${join(dir, 'audit.log')}`);
  assert.notEqual(rules, snippet, 'the snippet names an audit log');
  // What the controller does with enable-owasp-modsecurity-crs: the CRS after the snippet.
  writeFileSync(join(dir, 'crs.conf'), `Include ${CRS_SETUP}\nInclude ${CRS_RULES}/*.conf\n`);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `load_module ${MODULE};
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;' : ''}
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size ${edgeBodyLimitBytes()};
  modsecurity on;
  modsecurity_rules '
${rules}
  ';
  modsecurity_rules_file ${dir}/crs.conf;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_set_header Host $host;
      add_header X-Edge-Upstream $upstream_status always;
    }
  }
}
`,
  );
  const child = spawn(
    NGINX,
    ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid;`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.on('error', (error) => {
    stderr += `${error.message}\n`; // e.g. ENOENT: reported by the readiness loop below
  });
  child.stderr?.on('data', (c) => {
    stderr += String(c);
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.pid === undefined)
      assert.fail(`nginx exited ${child.exitCode}: ${stderr}\n${readLog(dir, 'error.log')}`);
    try {
      await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (Date.now() > deadline) assert.fail(`nginx did not answer in 20 s: ${stderr}\n${readLog(dir, 'error.log')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { baseUrl, dir, process: child };
}

/** The ids of the rules that matched, from the JSON audit log (the last transactions first). */
function matchedRules(dir: string): string[] {
  const ids: string[] = [];
  for (const line of readLog(dir, 'audit.log').split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as {
      transaction?: { request?: { uri?: string }; messages?: Array<{ details?: { ruleId?: string } }> };
    };
    for (const m of entry.transaction?.messages ?? []) ids.push(`${m.details?.ruleId} (${entry.transaction?.request?.uri})`);
  }
  return ids;
}

function readLog(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    return '';
  }
}

async function stopEdge(edge: Edge): Promise<void> {
  if (edge.process.exitCode === null) {
    const exited = new Promise((r) => edge.process.once('exit', r));
    edge.process.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (edge.process.exitCode === null) edge.process.kill('SIGKILL');
  }
  rmSync(edge.dir, { recursive: true, force: true });
}

interface Sent {
  status: number;
  upstream: boolean;
  body: any;
}

describe('the edge WAF (ModSecurity + OWASP CRS, paranoia level 1) from the controller ConfigMap', {
  skip,
}, () => {
  let app: TestApp;
  let edge: Edge;
  const covered = new Set<string>();
  const blocked: string[] = [];

  /** One request through the edge; records the operation as covered when the service answered it. */
  async function send(
    method: string,
    template: string,
    path: string,
    init: { json?: unknown; token?: string; headers?: Record<string, string> } = {},
  ): Promise<Sent> {
    const headers: Record<string, string> = { 'user-agent': 'rampart-web/1.0', accept: 'application/json', ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    let body: string | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15_000);
    try {
      const res = await fetch(`${edge.baseUrl}${path}`, { method, headers, body, signal: controller.signal });
      const upstream = res.headers.has('x-edge-upstream');
      let parsed: any;
      if (/event-stream/.test(res.headers.get('content-type') ?? '')) {
        controller.abort(); // the first bytes are enough: the stream went through
        parsed = undefined;
      } else {
        const text = await res.text();
        parsed = /json/.test(res.headers.get('content-type') ?? '') && text ? JSON.parse(text) : text;
      }
      if (upstream) covered.add(`${method} ${template}`);
      else blocked.push(`${method} ${path} → ${res.status}`);
      return { status: res.status, upstream, body: parsed };
    } finally {
      clearTimeout(timer);
    }
  }

  before(async () => {
    app = await startTestApp({
      listen: true,
      env: { WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: ORIGIN, ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' },
    });
    edge = await startEdge(app.baseUrl, modsecuritySnippet());
  });
  after(async () => {
    if (edge) await stopEdge(edge);
    if (app) await app.close();
  });

  it('passes a legitimate request for every operation of the OpenAPI document', async () => {
    for (const p of ['/healthz', '/readyz', '/version', '/openapi.json', '/.well-known/jwks.json']) await send('GET', p, p);

    const email = uniqueEmail('waf');
    const signup = await send('POST', '/v1/auth/signup', '/v1/auth/signup', { json: { email, password: TEST_PASSWORD } });
    assert.equal(signup.status, 201, JSON.stringify(signup.body));
    const login = await send('POST', '/v1/auth/login', '/v1/auth/login', { json: { email, password: TEST_PASSWORD } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const refreshed = await send('POST', '/v1/auth/refresh', '/v1/auth/refresh', {
      json: { refresh_token: login.body.refresh_token },
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const token = signup.body.access_token as string;

    await send('GET', '/v1/me', '/v1/me', { token });
    await send('GET', '/v1/usage', '/v1/usage', { token });
    const sessions = await send('GET', '/v1/auth/sessions', '/v1/auth/sessions', { token });
    const otherSession =
      (sessions.body.items as Array<{ id: string; current?: boolean }>).find((s) => !s.current) ?? sessions.body.items[0];
    await send('DELETE', '/v1/auth/sessions/{id}', `/v1/auth/sessions/${otherSession.id}`, { token });

    // Chat: a conversation, a message (its reply streamed as server-sent events), the listings.
    const conv = await send('POST', '/v1/conversations', '/v1/conversations', { token, json: { title: 'Trip to Lisbon' } });
    assert.equal(conv.status, 201, JSON.stringify(conv.body));
    const id = conv.body.id as string;
    const content = "What's the weather like in Lisbon in May? Should I pack a jacket -- or not?";
    const message = await send('POST', '/v1/conversations/{id}/messages', `/v1/conversations/${id}/messages`, {
      token,
      json: { content },
    });
    assert.ok(message.status < 300, JSON.stringify(message.body));
    const messageId = (message.body.assistant_message?.id ?? message.body.id ?? message.body.message?.id) as string;
    await send(
      'GET',
      '/v1/conversations/{id}/messages/{message_id}/events',
      `/v1/conversations/${id}/messages/${messageId}/events`,
      {
        token,
        headers: { accept: 'text/event-stream' },
      },
    );
    // A chat assistant is asked about code: free text the service stores and hands to the model, never
    // interprets (docs/edge.md, "Tuning").
    for (const question of [
      'How do I select the users who signed up today? SELECT id, email FROM users WHERE created_at > now() - interval 1 day; is that right?',
      'Why does <script>alert(1)</script> not run when I put it in innerText?',
      'What does ../../etc/passwd mean in a path traversal report?',
    ]) {
      const asked = await send('POST', '/v1/conversations/{id}/messages', `/v1/conversations/${id}/messages`, {
        token,
        json: { content: question },
      });
      assert.ok(asked.upstream, `${question}: ${asked.status} (rules ${matchedRules(edge.dir).join(', ')})`);
    }
    await send('GET', '/v1/conversations/{id}/messages', `/v1/conversations/${id}/messages?limit=20`, { token });
    await send('GET', '/v1/conversations', '/v1/conversations?limit=20', { token });
    await send('GET', '/v1/conversations/{id}', `/v1/conversations/${id}`, { token });
    await send('DELETE', '/v1/conversations/{id}', `/v1/conversations/${id}`, { token });

    // Recent authentication, then passkeys.
    await send('POST', '/v1/auth/reauthenticate', '/v1/auth/reauthenticate', { token, json: { password: TEST_PASSWORD } });
    const key = createSoftwareAuthenticator({ rpId: RP_ID, origin: ORIGIN });
    const regOptions = await send('POST', '/v1/auth/webauthn/register/options', '/v1/auth/webauthn/register/options', {
      token,
    });
    assert.equal(regOptions.status, 200, JSON.stringify(regOptions.body));
    const reg = await send('POST', '/v1/auth/webauthn/register', '/v1/auth/webauthn/register', {
      token,
      json: { response: key.register(regOptions.body), name: "Anna's laptop" },
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const creds = await send('GET', '/v1/auth/webauthn/credentials', '/v1/auth/webauthn/credentials', { token });
    const credId = creds.body.items[0].id as string;
    await send('PATCH', '/v1/auth/webauthn/credentials/{id}', `/v1/auth/webauthn/credentials/${credId}`, {
      token,
      json: { name: 'Phone (work)' },
    });
    const loginOptions = await send('POST', '/v1/auth/webauthn/login/options', '/v1/auth/webauthn/login/options', {
      json: { email },
    });
    await send('POST', '/v1/auth/webauthn/login', '/v1/auth/webauthn/login', {
      json: { response: key.assert(loginOptions.body) },
    });
    await send('POST', '/v1/auth/webauthn/reauthenticate/options', '/v1/auth/webauthn/reauthenticate/options', { token });
    await send('DELETE', '/v1/auth/webauthn/credentials/{id}', `/v1/auth/webauthn/credentials/${credId}`, { token });

    // TOTP: enrolment, a (wrong) confirmation code, recovery codes, MFA verification, removal.
    await send('POST', '/v1/auth/mfa/totp', '/v1/auth/mfa/totp', { token });
    await send('POST', '/v1/auth/mfa/totp/confirm', '/v1/auth/mfa/totp/confirm', { token, json: { code: '123456' } });
    await send('POST', '/v1/auth/mfa/recovery-codes', '/v1/auth/mfa/recovery-codes', { token });
    await send('POST', '/v1/auth/mfa/verify', '/v1/auth/mfa/verify', {
      json: { mfa_token: 'mfa_3kTq9vXz2LpR8sWc4YhN', code: '654321' },
    });
    await send('DELETE', '/v1/auth/mfa/totp', '/v1/auth/mfa/totp', { token });

    // Account: e-mail verification, password change and reset, e-mail change, export.
    await send('POST', '/v1/auth/verify-email', '/v1/auth/verify-email', {
      json: { token: 'vKq2mXr7TnB4wZp9sLd3Hf6Yc1Ae8Gu5' },
    });
    await send('POST', '/v1/auth/verify-email/resend', '/v1/auth/verify-email/resend', { json: { email } });
    const newPassword = 'another horse battery staple 43';
    const changed = await send('POST', '/v1/auth/password', '/v1/auth/password', {
      token,
      json: { current_password: TEST_PASSWORD, new_password: newPassword },
    });
    const token2 = (changed.body?.access_token as string | undefined) ?? token;
    await send('POST', '/v1/auth/password-reset', '/v1/auth/password-reset', { json: { email } });
    await send('POST', '/v1/auth/password-reset/confirm', '/v1/auth/password-reset/confirm', {
      json: { token: 'rT5nW8qLz2XcV7bM3kJd9Hs4Pf6Gy1Ae', new_password: 'yet another horse staple 44' },
    });
    await send('POST', '/v1/auth/email', '/v1/auth/email', { token: token2, json: { new_email: uniqueEmail('waf-new') } });
    await send('POST', '/v1/auth/email/confirm', '/v1/auth/email/confirm', {
      json: { token: 'eC4xN7pQw2ZrT9vB5mLk3Js8Hd6Fg1Ya' },
    });
    await send('GET', '/v1/me/export', '/v1/me/export', { token: token2 });

    // Sign-out, then the account's deletion.
    const second = await send('POST', '/v1/auth/login', '/v1/auth/login', { json: { email, password: newPassword } });
    await send('POST', '/v1/auth/logout', '/v1/auth/logout', {
      json: { refresh_token: second.body?.refresh_token ?? refreshed.body.refresh_token },
    });
    await send('POST', '/v1/auth/logout-all', '/v1/auth/logout-all', { token: token2 });
    const third = await send('POST', '/v1/auth/login', '/v1/auth/login', { json: { email, password: newPassword } });
    await send('DELETE', '/v1/me', '/v1/me', { token: third.body?.access_token ?? token2 });

    assert.deepEqual(blocked, [], `refused by the edge:\n${blocked.join('\n')}\nrules: ${matchedRules(edge.dir).join(', ')}`);
    const documented = documentedOperations().map((op) => `${op.method} ${op.path}`);
    assert.deepEqual(
      documented.filter((op) => !covered.has(op)),
      [],
      'every documented operation went through the WAF',
    );
    assert.deepEqual(
      [...covered].filter((op) => !documented.includes(op)),
      [],
      'every request above names a documented operation',
    );
    assert.ok(documented.length >= 44, `${documented.length} operations`);
  });

  for (const [name, query] of [
    ['SQL injection (tautology)', `?q=${encodeURIComponent("' OR 1=1--")}`],
    ['SQL injection (UNION SELECT)', `?cursor=${encodeURIComponent('1 UNION SELECT password FROM users--')}`],
    ['path traversal', `?file=${encodeURIComponent('../../etc/passwd')}`],
    ['cross-site scripting', `?q=${encodeURIComponent('<script>alert(1)</script>')}`],
  ] as const) {
    it(`refuses ${name} in the query string with 403 from the edge`, async () => {
      const res = await fetch(`${edge.baseUrl}/v1/conversations${query}`, {
        headers: { 'user-agent': 'rampart-web/1.0', accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      assert.equal(res.status, 403);
      assert.ok(!res.headers.has('x-edge-upstream'), 'nginx answered: the service never saw it');
    });
  }

  it('inspects JSON bodies: the message exclusion is one field of one route, the same text elsewhere is refused', async () => {
    const signup = await fetch(`${edge.baseUrl}/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'rampart-web/1.0' },
      body: JSON.stringify({ email: uniqueEmail('waf-body'), password: TEST_PASSWORD }),
      signal: AbortSignal.timeout(10_000),
    });
    const { access_token: token } = (await signup.json()) as { access_token: string };
    for (const [path, json] of [
      ['/v1/conversations', { title: '<script>alert(1)</script>' }],
      ['/v1/auth/login', { email: "admin@example.com' OR 1=1--", password: 'x' }],
    ] as const) {
      const res = await fetch(`${edge.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'rampart-web/1.0', authorization: `Bearer ${token}` },
        body: JSON.stringify(json),
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      assert.equal(res.status, 403, `${path} ${JSON.stringify(json)}`);
      assert.ok(!res.headers.has('x-edge-upstream'), 'refused by nginx');
    }
  });

  it('refuses a method the API does not have (PUT, PROPFIND) at the edge', async () => {
    for (const method of ['PUT', 'PROPFIND']) {
      const res = await fetch(`${edge.baseUrl}/v1/me`, {
        method,
        headers: { 'user-agent': 'rampart-web/1.0' },
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      assert.ok(res.status === 403 || res.status === 405, `${method}: ${res.status}`);
      assert.ok(!res.headers.has('x-edge-upstream'), `${method} refused by nginx`);
    }
  });

  it('refuses a body over MAX_REQUEST_SIZE_BYTES with 413 at the edge; one at the limit reaches the service', async () => {
    assert.equal(
      edgeBodyLimitBytes(),
      app.config.http.maxRequestSizeBytes,
      "the Ingress's proxy-body-size is the service's default MAX_REQUEST_SIZE_BYTES",
    );
    const limit = app.config.http.maxRequestSizeBytes;
    const post = (size: number) =>
      fetch(`${edge.baseUrl}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'rampart-web/1.0' },
        body: JSON.stringify({ email: 'a@example.com', password: 'p'.repeat(size - 40) }).padEnd(size, ' '),
        signal: AbortSignal.timeout(10_000),
      });
    const over = await post(limit + 1);
    await over.text();
    assert.equal(over.status, 413);
    assert.ok(!over.headers.has('x-edge-upstream'), 'refused by nginx');
    const at = await post(limit);
    await at.text();
    assert.ok(at.headers.has('x-edge-upstream'), `a body at the limit reaches the service (${at.status})`);
  });
});
