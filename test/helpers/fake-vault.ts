import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the parts of Vault's HTTP API the secret provider uses (the real Vault is not
 * reachable from here), following Vault's documentation:
 *
 * - KV v2 (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2):
 *   GET /v1/{mount}/data/{path}[?version=N] → {data: {data, metadata: {version, created_time, deletion_time, destroyed, custom_metadata}}};
 *   404 {errors: []} when the secret does not exist, 404 with the metadata when its latest version is deleted;
 *   POST|PUT /v1/{mount}/data/{path} {data, options?: {cas}} → {data: {version, …}}; a cas that is not the
 *   current version (0: must not exist) → 400 {errors: ["check-and-set parameter did not match the current version"]};
 *   DELETE /v1/{mount}/data/{path} soft-deletes the latest version (204).
 * - Token auth: X-Vault-Token must be a known, unexpired token, else 403 {errors: ["permission denied"]};
 *   a token may be limited to reading.
 * - Kubernetes auth (https://developer.hashicorp.com/vault/api-docs/auth/kubernetes):
 *   POST /v1/auth/{mount}/login {role, jwt} → {auth: {client_token, lease_duration, renewable, policies}};
 *   unknown role → 400 invalid role name; a JWT the role does not accept → 403 permission denied.
 * - Namespaces: when configured, requests must carry X-Vault-Namespace with it (else 403).
 */

interface Version {
  data: Record<string, unknown>;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

export interface FakeVaultOptions {
  /** KV v2 mounts (default ['secret']). */
  mounts?: string[];
  /** Tokens accepted for reading and writing. */
  tokens?: string[];
  /** Tokens accepted for reading only. */
  readOnlyTokens?: string[];
  namespace?: string;
  kubernetes?: { mount?: string; role: string; jwt: string; leaseSeconds?: number };
}

export interface FakeVaultRequest {
  readonly method: string;
  readonly path: string;
  readonly namespace: string | undefined;
  readonly hadToken: boolean;
}

export interface FakeVault {
  readonly url: string;
  /** Every request received, without tokens. */
  readonly requests: FakeVaultRequest[];
  /** Writes a new version directly (as an operator would), bypassing auth; returns the version. */
  put(mount: string, path: string, data: Record<string, unknown>): number;
  /** The data of the latest version (undefined when none or deleted). */
  latest(mount: string, path: string): { data: Record<string, unknown>; version: number } | undefined;
  /** Soft-deletes the latest version. */
  deleteLatest(mount: string, path: string): void;
  revokeToken(token: string): void;
  /** Tokens issued by the Kubernetes login, oldest first. */
  readonly issuedTokens: string[];
  /** Delay before every answer (ms), to test timeouts. */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return {};
  return JSON.parse(text);
}

export async function startFakeVault(options: FakeVaultOptions = {}): Promise<FakeVault> {
  const mounts = new Set(options.mounts ?? ['secret']);
  const tokens = new Map<string, { write: boolean; expiresAt: number }>();
  for (const t of options.tokens ?? []) tokens.set(t, { write: true, expiresAt: Number.POSITIVE_INFINITY });
  for (const t of options.readOnlyTokens ?? []) tokens.set(t, { write: false, expiresAt: Number.POSITIVE_INFINITY });
  const secrets = new Map<string, { versions: Version[] }>();
  const requests: FakeVaultRequest[] = [];
  const issuedTokens: string[] = [];
  let latencyMs = 0;
  const pending = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const entry = {
        timer: setTimeout(() => entry.done(), ms),
        done: () => {
          pending.delete(entry);
          resolve();
        },
      };
      pending.add(entry);
    });
  const k8sMount = options.kubernetes?.mount ?? 'kubernetes';

  const keyOf = (mount: string, path: string) => `${mount}\u0000${path}`;
  const putVersion = (mount: string, path: string, data: Record<string, unknown>) => {
    const entry = secrets.get(keyOf(mount, path)) ?? { versions: [] };
    entry.versions.push({ data: structuredClone(data), created_time: new Date().toISOString(), deletion_time: '', destroyed: false });
    secrets.set(keyOf(mount, path), entry);
    return entry.versions.length;
  };
  const metadataOf = (v: Version, version: number) => ({
    created_time: v.created_time,
    custom_metadata: null,
    deletion_time: v.deletion_time,
    destroyed: v.destroyed,
    version,
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vault.local');
    const namespace = req.headers['x-vault-namespace'] as string | undefined;
    const token = req.headers['x-vault-token'] as string | undefined;
    requests.push({ method: req.method ?? '', path: url.pathname, namespace, hadToken: token !== undefined });
    if (latencyMs > 0) await delay(latencyMs);
    if (options.namespace !== undefined && namespace !== options.namespace) return send(res, 403, { errors: ['permission denied'] });

    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (segments[0] !== 'v1') return send(res, 404, { errors: [] });

    // Kubernetes login
    if (segments[1] === 'auth' && segments[2] === k8sMount && segments[3] === 'login' && segments.length === 4) {
      if (req.method !== 'POST' && req.method !== 'PUT') return send(res, 405, { errors: [] });
      const k8s = options.kubernetes;
      const body = (await readJson(req)) as { role?: unknown; jwt?: unknown };
      if (!k8s) return send(res, 404, { errors: [`no handler for route "auth/${k8sMount}/login"`] });
      if (body.role !== k8s.role) return send(res, 400, { errors: [`invalid role name "${String(body.role)}"`] });
      if (body.jwt !== k8s.jwt) return send(res, 403, { errors: ['permission denied'] });
      const lease = k8s.leaseSeconds ?? 3600;
      const clientToken = `hvs.${randomBytes(18).toString('base64url')}`;
      tokens.set(clientToken, { write: true, expiresAt: Date.now() + lease * 1000 });
      issuedTokens.push(clientToken);
      return send(res, 200, {
        request_id: randomBytes(8).toString('hex'),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: null,
        auth: { client_token: clientToken, accessor: randomBytes(8).toString('hex'), policies: ['default', 'rampart'], lease_duration: lease, renewable: true },
      });
    }

    const grant = token === undefined ? undefined : tokens.get(token);
    if (!grant || grant.expiresAt <= Date.now()) return send(res, 403, { errors: ['permission denied'] });

    const [, mount, kind, ...rest] = segments;
    if (!mount || !mounts.has(mount) || kind !== 'data' || rest.length === 0) {
      return send(res, 404, { errors: [`no handler for route "${segments.slice(1).join('/')}". route entry not found.`] });
    }
    const path = rest.join('/');
    const entry = secrets.get(keyOf(mount, path));

    if (req.method === 'GET') {
      if (!entry || entry.versions.length === 0) return send(res, 404, { errors: [] });
      const wanted = url.searchParams.get('version');
      const number = wanted && wanted !== '0' ? Number(wanted) : entry.versions.length;
      const version = entry.versions[number - 1];
      if (!version) return send(res, 404, { errors: [] });
      const metadata = metadataOf(version, number);
      if (version.deletion_time !== '' || version.destroyed) return send(res, 404, { data: { data: null, metadata } });
      return send(res, 200, {
        request_id: randomBytes(8).toString('hex'),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: { data: version.data, metadata },
        wrap_info: null,
        warnings: null,
        auth: null,
      });
    }

    if (req.method === 'POST' || req.method === 'PUT') {
      if (!grant.write) return send(res, 403, { errors: ['permission denied'] });
      let body: { data?: unknown; options?: { cas?: unknown } };
      try {
        body = (await readJson(req)) as typeof body;
      } catch {
        return send(res, 400, { errors: ['failed to parse JSON input'] });
      }
      if (body.data === null || typeof body.data !== 'object' || Array.isArray(body.data)) return send(res, 400, { errors: ['no data provided'] });
      const current = entry?.versions.length ?? 0;
      const cas = body.options?.cas;
      if (cas !== undefined && cas !== current) {
        return send(res, 400, { errors: ['check-and-set parameter did not match the current version'] });
      }
      const version = putVersion(mount, path, body.data as Record<string, unknown>);
      const written = secrets.get(keyOf(mount, path))?.versions[version - 1] as Version;
      return send(res, 200, { data: metadataOf(written, version) });
    }

    if (req.method === 'DELETE') {
      if (!grant.write) return send(res, 403, { errors: ['permission denied'] });
      const latest = entry?.versions.at(-1);
      if (latest) latest.deletion_time = new Date().toISOString();
      return send(res, 204);
    }
    return send(res, 405, { errors: [] });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { errors: ['internal error'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    issuedTokens,
    put: putVersion,
    latest(mount, path) {
      const versions = secrets.get(keyOf(mount, path))?.versions ?? [];
      const v = versions.at(-1);
      if (v === undefined || v.deletion_time !== '' || v.destroyed) return undefined;
      return { data: structuredClone(v.data), version: versions.length };
    },
    deleteLatest(mount, path) {
      const v = secrets.get(keyOf(mount, path))?.versions.at(-1);
      if (v) v.deletion_time = new Date().toISOString();
    },
    revokeToken(t) {
      tokens.delete(t);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pending) {
          clearTimeout(p.timer);
          p.done();
        }
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
