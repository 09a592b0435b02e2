import { readFile } from 'node:fs/promises';
import type { SecretProvider, VaultProviderOptions } from './provider.js';
import { SecretError, type SecretReference } from './types.js';

/**
 * `vault://mount/path#key`: one key of a Vault KV v2 secret, over Vault's HTTP API
 * (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2) with the global fetch.
 *
 * Read: GET /v1/{mount}/data/{path} → data.data[key]; the version is data.metadata.version.
 * Write: read-modify-write of the secret's whole data map (other keys are kept), sent with
 * `options.cas` = the version read, so a writer that raced us makes Vault answer 400 "check-and-set
 * parameter did not match the current version" → `conflict` instead of one write silently undoing the
 * other. `expectedVersion` is compared with the version read first (`null`: the key must not exist).
 *
 * Auth: a token (VAULT_TOKEN, or VAULT_TOKEN_FILE re-read each time), else Kubernetes auth — the pod's
 * service-account JWT exchanged at /v1/auth/{mount}/login for a client token, cached until its lease
 * ends and renewed by logging in again once when Vault answers 403 (a revoked or expired token).
 * Every request is bounded by `timeoutMs`.
 */

type VaultRef = Extract<SecretReference, { scheme: 'vault' }>;

interface VaultResponse {
  readonly status: number;
  readonly body: unknown;
}

interface SecretData {
  /** undefined: the secret does not exist (or its latest version is deleted/destroyed). */
  readonly data: Record<string, unknown> | undefined;
  /** Current version in Vault's metadata; 0: never written. */
  readonly version: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const CAS_MISMATCH = /check-and-set parameter did not match the current version/i;

function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return '';
  // Vault's messages name paths and policies, not values; keep them short all the same.
  return errors
    .filter((e): e is string => typeof e === 'string')
    .map((e) => e.replace(/\s+/g, ' ').trim())
    .join('; ')
    .slice(0, 300);
}

const describe = (ref: VaultRef) => `vault://${ref.mount}/${ref.path}`;

export function createVaultProvider(options: VaultProviderOptions): SecretProvider<'vault'> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  let base: URL;
  try {
    base = new URL(options.address);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new SecretError('not_configured', 'VAULT_ADDR is not an http(s) URL');
  }
  const usesToken = options.token !== undefined || options.tokenFile !== undefined;
  if (!usesToken && !options.kubernetes) {
    throw new SecretError('not_configured', 'Vault needs a token (VAULT_TOKEN or VAULT_TOKEN_FILE) or a Kubernetes role (VAULT_K8S_ROLE)');
  }
  let cachedLogin: { token: string; expiresAt: number } | undefined;
  /** Concurrent requests needing a token share one login. */
  let loginInFlight: Promise<string> | undefined;

  async function send(method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<VaultResponse> {
    const url = new URL(`/v1/${path}`, base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['x-vault-token'] = token;
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        // A standby node without request forwarding answers 307 to the active one; following it
        // would hand the token to whatever the Location names.
        redirect: 'manual',
      });
      text = await response.text();
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new SecretError(
        'unavailable',
        timedOut ? `Vault at ${base.origin} did not answer within ${timeoutMs} ms` : `Vault at ${base.origin} is unreachable`,
        { cause: err },
      );
    }
    if (response.status >= 300 && response.status < 400) {
      throw new SecretError(
        'unavailable',
        `Vault at ${base.origin} answered a redirect (${response.status}); point VAULT_ADDR at the active node or a load balancer that forwards`,
      );
    }
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    return { status: response.status, body: parsed };
  }

  function login(): Promise<string> {
    loginInFlight ??= kubernetesLogin().finally(() => {
      loginInFlight = undefined;
    });
    return loginInFlight;
  }

  async function kubernetesLogin(): Promise<string> {
    const k8s = options.kubernetes;
    if (!k8s) throw new SecretError('not_configured', 'no Vault auth configured');
    const mount = k8s.mount ?? 'kubernetes';
    const tokenPath = k8s.tokenPath ?? '/var/run/secrets/kubernetes.io/serviceaccount/token';
    let jwt: string;
    try {
      jwt = (await readFile(tokenPath, 'utf8')).trim();
    } catch (err) {
      throw new SecretError('auth_failed', `Vault Kubernetes auth: cannot read the service-account token at ${tokenPath}`, { cause: err });
    }
    const res = await send('POST', `auth/${encodeURIComponent(mount)}/login`, undefined, { role: k8s.role, jwt });
    const auth = (res.body as { auth?: { client_token?: unknown; lease_duration?: unknown } } | null)?.auth;
    if (res.status >= 500) throw new SecretError('unavailable', `Vault Kubernetes login answered ${res.status}`);
    if (res.status !== 200 || typeof auth?.client_token !== 'string') {
      const detail = vaultErrors(res.body);
      throw new SecretError(
        'auth_failed',
        `Vault Kubernetes login as role "${k8s.role}" at auth/${mount} was refused (${res.status}${detail ? ` ${detail}` : ''})`,
      );
    }
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    // Renew a little before the lease ends; a lease of 0 does not expire.
    const expiresAt = lease > 0 ? now() + lease * 1000 * 0.9 : Number.POSITIVE_INFINITY;
    cachedLogin = { token: auth.client_token, expiresAt };
    return auth.client_token;
  }

  async function currentToken(): Promise<string> {
    if (options.token !== undefined) return options.token;
    if (options.tokenFile !== undefined) {
      try {
        return (await readFile(options.tokenFile, 'utf8')).trim();
      } catch (err) {
        throw new SecretError('auth_failed', `cannot read the Vault token file ${options.tokenFile}`, { cause: err });
      }
    }
    if (cachedLogin && cachedLogin.expiresAt > now()) return cachedLogin.token;
    return login();
  }

  /** One authenticated request; with Kubernetes auth, a 403 logs in again and retries once. */
  async function authed(method: 'GET' | 'POST', path: string, body?: unknown): Promise<VaultResponse> {
    const res = await send(method, path, await currentToken(), body);
    if (res.status === 403 && !usesToken && options.kubernetes) {
      cachedLogin = undefined;
      return send(method, path, await login(), body);
    }
    return res;
  }

  function failure(res: VaultResponse, ref: VaultRef, action: 'read' | 'write'): SecretError {
    const detail = vaultErrors(res.body);
    const where = describe(ref);
    if (res.status === 403) {
      const how = usesToken ? 'check VAULT_TOKEN and its policy' : 'check the Kubernetes role and its policy';
      return new SecretError('auth_failed', `Vault denied ${action} of ${where} (403 ${detail || 'permission denied'}): ${how}`);
    }
    if (res.status === 404) return new SecretError('not_found', `${where} does not exist in Vault`);
    if (res.status === 400 && CAS_MISMATCH.test(detail)) {
      return new SecretError('conflict', `${where} was changed by another writer (Vault check-and-set mismatch)`);
    }
    if (res.status >= 500 || res.status === 429) {
      return new SecretError('unavailable', `Vault answered ${res.status} to the ${action} of ${where}${detail ? `: ${detail}` : ''}`);
    }
    return new SecretError('unavailable', `Vault refused the ${action} of ${where} (${res.status}${detail ? ` ${detail}` : ''})`);
  }

  const dataPath = (ref: VaultRef) =>
    `${encodeURIComponent(ref.mount)}/data/${ref.path.split('/').map(encodeURIComponent).join('/')}`;

  async function readSecret(ref: VaultRef): Promise<SecretData> {
    const res = await authed('GET', dataPath(ref));
    const payload = (res.body as { data?: { data?: unknown; metadata?: { version?: unknown } } } | null)?.data;
    const version = typeof payload?.metadata?.version === 'number' ? payload.metadata.version : 0;
    if (res.status === 404) {
      // A deleted or destroyed latest version still has metadata (and a version a cas must match).
      return { data: undefined, version };
    }
    if (res.status !== 200) throw failure(res, ref, 'read');
    const data = payload?.data;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new SecretError('invalid_value', `${describe(ref)}: Vault's answer holds no KV v2 data (is ${ref.mount} a KV version 2 mount?)`);
    }
    return { data: data as Record<string, unknown>, version };
  }

  return {
    async read(ref) {
      const secret = await readSecret(ref);
      if (!secret.data) throw new SecretError('not_found', `${describe(ref)} does not exist in Vault (or its latest version is deleted)`);
      const value = secret.data[ref.key];
      if (value === undefined) throw new SecretError('not_found', `${describe(ref)} has no key "${ref.key}"`);
      if (typeof value !== 'string') throw new SecretError('invalid_value', `${describe(ref)}#${ref.key} is not a string`);
      return { value, version: String(secret.version) };
    },

    async write(ref, value, writeOptions = {}) {
      const secret = await readSecret(ref);
      const expected = writeOptions.expectedVersion;
      if (expected === null && secret.data && ref.key in secret.data) {
        throw new SecretError('conflict', `${describe(ref)}#${ref.key} already exists`);
      }
      if (typeof expected === 'string' && expected !== String(secret.version)) {
        throw new SecretError('conflict', `${describe(ref)} is at version ${secret.version}, not ${expected}: changed since it was read`);
      }
      const res = await authed('POST', dataPath(ref), {
        options: { cas: secret.version },
        data: { ...(secret.data ?? {}), [ref.key]: value },
      });
      if (res.status !== 200 && res.status !== 204) throw failure(res, ref, 'write');
      const version = (res.body as { data?: { version?: unknown } } | null)?.data?.version;
      return { version: typeof version === 'number' ? String(version) : undefined };
    },
  };
}
